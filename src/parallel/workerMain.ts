/**
 * A worker process entry without the CLI: `node --import tsx src/parallel/workerMain.ts --redis
 * redis://HOST:PORT [--run NAME] [--concurrency N] [--dataset-root DIR ...] [--cache-mb MB]`. It prints one JSON
 * line per worker event on stdout and stops on SIGINT or SIGTERM. The URL may come from
 * HESSE_REDIS_URL instead, which keeps a password out of the process list.
 */
import { pathToFileURL } from 'node:url';
import { HesseError, OptionError } from '../errors.js';
import { runWorker, type RunWorkerOptions } from './clusterWorker.js';
import { redactUrls } from './redisUrl.js';

export function parseWorkerArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): RunWorkerOptions {
  const o: RunWorkerOptions = { redisUrl: env.HESSE_REDIS_URL ?? '', datasetRoots: [] };
  const int = (flag: string, v: string | undefined) => {
    const x = Number(v);
    if (v === undefined || !Number.isInteger(x) || x < 1) throw new OptionError(`${flag} needs a positive integer, got '${v ?? ''}'`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    const need = () => {
      if (value === undefined) throw new OptionError(`${flag} needs a value`);
      i++;
      return value;
    };
    switch (flag) {
      case '--redis':
        o.redisUrl = need();
        break;
      case '--run':
        o.runName = need();
        break;
      case '--concurrency':
        o.concurrency = int(flag, need());
        break;
      case '--dataset-root':
        o.datasetRoots!.push(need());
        break;
      case '--lock-ms':
        o.lockDurationMs = int(flag, need());
        break;
      case '--stalled-ms':
        o.stalledIntervalMs = int(flag, need());
        break;
      case '--poll-ms':
        o.pollMs = int(flag, need());
        break;
      case '--id':
        o.id = need();
        break;
      case '--cache-mb':
        o.cacheBytes = int(flag, need()) * 2 ** 20;
        break;
      default:
        throw new OptionError(`unknown option '${redactUrls(flag)}' (known: --redis, --run, --concurrency, --dataset-root, --lock-ms, --stalled-ms, --poll-ms, --cache-mb, --id)`);
    }
  }
  if (!o.redisUrl) throw new OptionError('give the Redis URL with --redis redis://HOST:PORT (or in HESSE_REDIS_URL)');
  return o;
}

/** Runs a worker until SIGINT or SIGTERM; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // started by a parent with an IPC channel (tests, benchmarks): stop when the parent goes
  if (process.send) process.on('disconnect', onSignal);
  try {
    const opts = parseWorkerArgs(argv);
    await runWorker({ ...opts, signal: stop.signal, onEvent: (e) => process.stdout.write(JSON.stringify(e) + '\n') });
    return 0;
  } catch (e) {
    if (e instanceof HesseError) {
      process.stderr.write(`hesse worker: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('disconnect', onSignal);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
