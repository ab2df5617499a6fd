import type { Command } from 'commander';
import { serveStudy } from '../../api/studyCluster.js';
import { describeLinkEvent, redactCredentials } from '../../parallel/index.js';
import type { CommandContext } from '../context.js';
import { intOption } from '../options.js';

interface StudyWorkerFlags {
  redis?: string;
  run: string;
  concurrency?: number;
  scratch?: string;
  datasetRoot: string[];
  lockMs?: number;
  stalledMs?: number;
  id?: string;
}

export function registerStudyWorker(program: Command, run: (f: (ctx: CommandContext, flags: StudyWorkerFlags) => Promise<void>) => (...a: unknown[]) => Promise<void>): void {
  program
    .command('study-worker')
    .description('run the runs of studies sent with `hesse study ... --cluster URL` (one at a time per slot, each in a worker process); runs until Ctrl-C')
    .option('--redis <url>', 'redis://[user:password@]host:port (or set HESSE_REDIS_URL, which keeps a password out of process lists)')
    .option('--run <name>', 'the run name to serve (the coordinator uses the same, --run)', 'hesse')
    .option('--concurrency <n>', 'runs at once (default 1)', intOption('--concurrency', 1))
    .option('--scratch <dir>', 'where the runs in hand are kept (default in the temporary directory)')
    .option('--dataset-root <dir>', 'a directory CIFAR files may be read from (repeatable); runs naming files elsewhere are refused', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--lock-ms <ms>', 'job lock: a dead worker loses its run after this long (default 30000)', intOption('--lock-ms', 1))
    .option('--stalled-ms <ms>', 'how often runs of dead workers are looked for (default 15000)', intOption('--stalled-ms', 1))
    .option('--id <id>', 'a name for this worker in the runs\' logs')
    .action(
      run(async (ctx, flags) => {
        const stop = new AbortController();
        const onStop = () => stop.abort();
        ctx.signal.addEventListener('abort', onStop);
        process.on('SIGTERM', onStop);
        // started by a parent with an IPC channel (tests): stop when the parent goes
        if (process.send) process.on('disconnect', onStop);
        const say = (line: string) => ctx.progress.say(`hesse study-worker: ${redactCredentials(line)}`);
        try {
          await serveStudy({
            ...(flags.redis !== undefined ? { redisUrl: flags.redis } : {}),
            runName: flags.run,
            datasetRoots: flags.datasetRoot,
            signal: stop.signal,
            ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
            ...(flags.scratch !== undefined ? { scratch: flags.scratch } : {}),
            ...(flags.lockMs !== undefined ? { lockDurationMs: flags.lockMs } : {}),
            ...(flags.stalledMs !== undefined ? { stalledIntervalMs: flags.stalledMs } : {}),
            ...(flags.id !== undefined ? { id: flags.id } : {}),
            onEvent: (e) => {
              if (ctx.flags.json) return void process.stdout.write(JSON.stringify(e) + '\n');
              switch (e.type) {
                case 'connected':
                  return say(`connected to ${e.url} as ${e.id} (${e.concurrency} at once); waiting for runs`);
                case 'started':
                  return say(`${e.task} ...`);
                case 'ended':
                  return say(`${e.task} ${e.finished ? 'finished' : 'stopped (its checkpoint is in Redis)'} after ${(e.ms / 1000).toFixed(1)} s`);
                case 'failed':
                  return say(`${e.task} failed: ${e.reason}`);
                case 'link':
                  return say(describeLinkEvent(e.event));
                case 'stopped':
                  return say('stopped');
                case 'run':
                  if (e.event.type === 'checkpoint') say(`${e.event.run} after epoch ${e.event.record.epoch}: top eigenvalue ${e.event.record.topEigenvalues[0]}`);
                  return;
              }
            },
          });
        } finally {
          process.off('SIGTERM', onStop);
          process.off('disconnect', onStop);
        }
      }),
    );
}
