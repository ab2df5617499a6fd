import type { Command } from 'commander';
import { describeLinkEvent, redactCredentials, resolveRedisUrl, runWorker, type WorkerEvent } from '../../parallel/index.js';
import { inCliTerms } from '../cliTerms.js';
import type { CommandContext } from '../context.js';
import { intOption } from '../options.js';

interface WorkerFlags {
  redis?: string;
  run: string;
  concurrency?: number;
  datasetRoot: string[];
  cacheMb?: number;
  lockMs?: number;
  stalledMs?: number;
  pollMs?: number;
  reconnectMs?: number;
  id?: string;
}

function describeEvent(e: WorkerEvent): string {
  switch (e.type) {
    case 'connected':
      return `connected to ${e.url} as ${e.id} (${e.concurrency} at once); waiting for a run`;
    case 'joined':
      return `joined run ${e.runId}`;
    case 'left':
      return `left run ${e.runId}`;
    case 'started':
      return `${e.op} on samples ${e.shard[0]}..${e.shard[1] - 1} ...`;
    case 'done':
      return `${e.op} on samples ${e.shard[0]}..${e.shard[1] - 1} done in ${(e.ms / 1000).toFixed(1)} s`;
    case 'rejected':
      return `rejected job ${e.jobId}: ${e.reason}`;
    case 'failed':
      return `job ${e.jobId} failed: ${e.reason}`;
    case 'error':
      return `error: ${e.message}`;
    case 'redis-unreachable':
    case 'redis-restored':
      return describeLinkEvent(e);
    case 'stopped':
      return 'stopped';
  }
}

export function registerWorker(program: Command, run: (f: (ctx: CommandContext, flags: WorkerFlags) => Promise<void>) => (...a: unknown[]) => Promise<void>): void {
  program
    .command('worker')
    .description('serve Hessian products for coordinators (hesse analyze --cluster) through Redis; runs until Ctrl-C')
    .option('--redis <url>', 'redis://[user:password@]host:port or rediss:// (or set HESSE_REDIS_URL, which keeps a password out of process lists)')
    .option('--run <name>', 'the run name to serve (the coordinator uses the same)', 'hesse')
    .option('--concurrency <n>', 'shard jobs at once, one thread each (default: one per core)', intOption('--concurrency', 1))
    .option('--dataset-root <dir>', 'a directory datasets may be read from (repeatable); jobs naming files elsewhere are refused', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--cache-mb <mb>', 'memory for cached primal passes', intOption('--cache-mb', 1))
    .option('--lock-ms <ms>', 'job lock: a dead worker loses its job after this long (default 6000)', intOption('--lock-ms', 1))
    .option('--stalled-ms <ms>', 'how often stalled jobs are looked for (default 3000)', intOption('--stalled-ms', 1))
    .option('--poll-ms <ms>', 'how often to look for a run while idle (default 500)', intOption('--poll-ms', 1))
    .option('--reconnect-ms <ms>', 'after losing Redis, how long to keep trying before stopping with an error (default 60000)', intOption('--reconnect-ms', 0))
    .option('--id <id>', 'a name for this worker in progress reports')
    .action(run(async (ctx, flags) => {
      const redisUrl = resolveRedisUrl(flags.redis, '--redis');
      const stop = new AbortController();
      const onStop = () => stop.abort();
      ctx.signal.addEventListener('abort', onStop);
      process.on('SIGTERM', onStop);
      // started by a parent with an IPC channel (tests, benchmarks): stop when the parent goes
      if (process.send) process.on('disconnect', onStop);
      try {
        await runWorker({
          redisUrl,
          runName: flags.run,
          datasetRoots: flags.datasetRoot,
          signal: stop.signal,
          onEvent: (e) => {
            if (ctx.flags.json) process.stdout.write(JSON.stringify(e) + '\n');
            else ctx.progress.say(`hesse worker: ${redactCredentials(inCliTerms(describeEvent(e)))}`);
          },
          ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
          ...(flags.cacheMb !== undefined ? { cacheBytes: flags.cacheMb * 2 ** 20 } : {}),
          ...(flags.lockMs !== undefined ? { lockDurationMs: flags.lockMs } : {}),
          ...(flags.stalledMs !== undefined ? { stalledIntervalMs: flags.stalledMs } : {}),
          ...(flags.pollMs !== undefined ? { pollMs: flags.pollMs } : {}),
          ...(flags.reconnectMs !== undefined ? { reconnectTimeoutMs: flags.reconnectMs } : {}),
          ...(flags.id !== undefined ? { id: flags.id } : {}),
        });
      } finally {
        process.off('SIGTERM', onStop);
        process.off('disconnect', onStop);
      }
    }));
}
