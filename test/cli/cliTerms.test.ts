import { describe, expect, it } from 'vitest';
import { cliMessage, inCliTerms } from '../../src/cli/cliTerms.js';
import { buildProgram } from '../../src/cli/program.js';
import { NoWorkersError, specWithinRoots } from '../../src/parallel/index.js';

/** The flags a message names (`--word`), each of which must be one the named command defines. */
function flagsNamed(text: string): string[] {
  return [...text.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]);
}

function workerFlags(): string[] {
  const worker = buildProgram().commands.find((c) => c.name() === 'worker')!;
  return worker.options.map((o) => o.long!);
}

describe('library messages in the CLI', () => {
  it('keep the problem the library names and add only flags the worker command has', async () => {
    const noRoots = await specWithinRoots({ kind: 'tensor', path: 'sub/set.safetensors' }, []).then(
      () => null,
      (e: Error) => e,
    );
    expect(noRoots).toBeInstanceOf(Error);
    // the library says what is wrong, neutrally: the dataset named, no roots, no flag
    expect(noRoots!.message).toMatch(/'sub\/set\.safetensors'.*without dataset roots/);
    expect(noRoots!.message).not.toContain('--');
    const said = inCliTerms(`rejected job 7: ${noRoots!.message}`);
    expect(said).toContain(noRoots!.message.split(';')[0]);
    expect(flagsNamed(said).length).toBeGreaterThan(0);
    for (const f of flagsNamed(said)) expect(workerFlags()).toContain(f);

    const none = new NoWorkersError("no worker has served run 'r7' on redis://127.0.0.1:6379 for 30 s; start workers that serve run 'r7' on that Redis server", 'r7', 'redis://127.0.0.1:6379');
    const line = cliMessage(none);
    expect(line.startsWith(none.message)).toBe(true);
    expect(line).toMatch(/worker .*r7/);
    for (const f of flagsNamed(line)) expect(workerFlags()).toContain(f);
    // a study waiting for study workers: the CLI names the study-worker command and only its flags
    const study = cliMessage(new NoWorkersError("no study worker has served run 's3' at redis://127.0.0.1:6379 for 30 s; start study workers that serve run 's3' on that Redis server, then run again to continue", 's3', 'redis://127.0.0.1:6379', 'study'));
    expect(study).toMatch(/study-worker .*s3/);
    const studyWorker = buildProgram().commands.find((c) => c.name() === 'study-worker')!;
    for (const f of flagsNamed(study)) expect(studyWorker.options.map((o) => o.long!)).toContain(f);
    // a message without such a phrase is printed as the library wrote it
    expect(cliMessage(new Error('the batch size must be positive'))).toBe('the batch size must be positive');
  });
});
