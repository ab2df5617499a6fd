import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readResults } from '../../src/report/index.js';
import { hesse } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-exits-'));

describe('how the command ends', () => {
  it('an unknown command says so in one line, names it and suggests the nearest command', async () => {
    const typo = await hesse(['analyse', '--model', 'm.safetensors']);
    expect(typo.code).toBe(2);
    expect(typo.stderr.trim().split('\n')).toHaveLength(1);
    expect(typo.stderr).toMatch(/unknown command 'analyse'.*did you mean 'analyze'/);
    const far = await hesse(['foo']);
    expect(far.code).toBe(2);
    expect(far.stderr).toMatch(/unknown command 'foo'/);
    // nothing is near 'foo': the commands are listed instead of a guess
    expect(far.stderr).not.toMatch(/did you mean/);
    for (const c of ['analyze', 'landscape', 'train', 'demo']) expect(far.stderr).toContain(c);
  });

  it('train stopped by Ctrl-C writes its checkpoint and report and exits with 130', async () => {
    const out = join(dir, 'train');
    const r = await hesse(['train', '--model', 'resnet8-w2', '--data', 'synthetic:256', '--epochs', '50', '--batch-size', '16', '--no-test', '--out', out], {
      signalWhen: /epoch 1\/50/,
    });
    expect(r.code, r.stderr).toBe(130);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(true);
    const res = await readResults(out);
    expect(res.interrupted).toBe(true);
    expect(res.results.training!.epochs.length).toBeLessThan(50);
    // as after a second Ctrl-C mid-epoch: the folder holds the checkpoint alone, and the run goes on into it
    for (const f of ['results.json', 'index.html', 'plots']) rmSync(join(out, f), { recursive: true, force: true });
    const resumed = await hesse(['train', '--model', 'resnet8-w2', '--data', 'synthetic:256', '--epochs', '1', '--batch-size', '16', '--no-test', '--out', out, '--resume', join(out, 'checkpoint.safetensors'), '--quiet']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((await readResults(out)).command).toBe('train');
  });
});
