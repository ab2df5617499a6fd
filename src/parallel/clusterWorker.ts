/**
 * A cluster worker process: it waits for a named run to appear in Redis, serves it (RunMembership:
 * a heartbeat and a BullMQ worker whose jobs shardJobs.ts computes on local worker threads, so the
 * event loop stays free to renew the job locks) and leaves it when the run key goes, then waits
 * for the next run. Redis lost for longer than `reconnectTimeoutMs` ends it with a ClusterError.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import { OptionError } from '../errors.js';
import { DEFAULT_LIMITS, type JobLimits, type RunMeta, type WorkerInfo } from './clusterProtocol.js';
import { RunKeys } from './runKeys.js';
import { realRoots } from './datasetRoots.js';
import type { LinkEvent } from './linkHealth.js';
import { RedisLink } from './redisLink.js';
import { parseRedisUrl, resolveRedisUrl } from './redisUrl.js';
import { RunMembership } from './runMembership.js';
import { shardJobProcessor } from './shardJobs.js';
import { ThreadPool } from './threadPool.js';
import { WorkerInputs } from './workerInputs.js';

export type WorkerEvent =
  | { type: 'connected'; url: string; id: string; concurrency: number }
  | { type: 'joined'; runId: string }
  | { type: 'left'; runId: string }
  | { type: 'started'; jobId: string; op: string; shard: [number, number] }
  | { type: 'done'; jobId: string; op: string; shard: [number, number]; ms: number }
  | { type: 'rejected'; jobId: string; reason: string }
  | { type: 'failed'; jobId: string; reason: string }
  | { type: 'error'; message: string }
  | LinkEvent
  | { type: 'stopped' };

export interface RunWorkerOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS (default: HESSE_REDIS_URL) */
  redisUrl?: string;
  /** the run to serve (default 'hesse'); the coordinator must use the same name */
  runName?: string;
  /** shard jobs computed at once, each on its own thread (default: one per core) */
  concurrency?: number;
  /** directories datasets may be read from; a job naming a file elsewhere is rejected */
  datasetRoots?: string[];
  signal?: AbortSignal;
  onEvent?: (e: WorkerEvent) => void;
  limits?: Partial<JobLimits>;
  /** bytes of primal passes kept, all threads together (default 4 GiB) */
  cacheBytes?: number;
  /** BullMQ job lock; a worker that dies loses its job after this long (default 6 s) */
  lockDurationMs?: number;
  /** how often stalled jobs are looked for (default 3 s) */
  stalledIntervalMs?: number;
  /** how often a job may stall before it fails (default 3) */
  maxStalledCount?: number;
  /** how often the run key is read while waiting for a run (default 500 ms) */
  pollMs?: number;
  /** how long one attempt to reach Redis may take; failing at the start ends the worker (default 3 s) */
  connectTimeoutMs?: number;
  /** after losing Redis, how long to keep trying before the worker stops with an error (default 60 s) */
  reconnectTimeoutMs?: number;
  id?: string;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** `p`, or undefined as soon as `signal` aborts (a command waiting for Redis to come back must not hold up a stop). */
function unlessAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T | undefined> {
  if (!signal) return p;
  p.catch(() => undefined);
  return new Promise((resolve, reject) => {
    const stop = () => resolve(undefined);
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

async function readMeta(link: RedisLink, keys: RunKeys): Promise<RunMeta | null> {
  const raw = await link.client.get(keys.meta);
  if (!raw) return null;
  try {
    const m = JSON.parse(raw) as RunMeta;
    return typeof m.runId === 'string' ? m : null;
  } catch {
    return null;
  }
}

function positive(name: string, v: number | undefined, fallback: number): number {
  const x = v ?? fallback;
  if (!Number.isFinite(x) || x <= 0) throw new OptionError(`${name} must be a positive number, got ${x}`);
  return x;
}

/** Runs until `signal` aborts (resolves once everything is closed) or Redis is lost for good (rejects with a ClusterError). */
export async function runWorker(opts: RunWorkerOptions): Promise<void> {
  const target = parseRedisUrl(resolveRedisUrl(opts.redisUrl));
  const keys = new RunKeys(opts.runName ?? 'hesse');
  const concurrency = opts.concurrency ?? availableParallelism();
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new OptionError(`concurrency must be a positive integer, got ${concurrency}`);
  const membershipOptions = {
    concurrency,
    lockDurationMs: positive('lockDurationMs', opts.lockDurationMs, 6000),
    stalledIntervalMs: positive('stalledIntervalMs', opts.stalledIntervalMs, 3000),
    maxStalledCount: opts.maxStalledCount ?? 3,
  };
  const pollMs = positive('pollMs', opts.pollMs, 500);
  const roots = await realRoots(opts.datasetRoots ?? []);
  const id = opts.id ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const emit = (e: WorkerEvent) => {
    try {
      opts.onEvent?.(e);
    } catch {
      // a faulty listener must not stop the worker
    }
  };
  const link = await RedisLink.open(target, {
    name: `hesse-worker:${id}`,
    connectTimeoutMs: positive('connectTimeoutMs', opts.connectTimeoutMs, 3000),
    ...(opts.reconnectTimeoutMs !== undefined ? { reconnectTimeoutMs: opts.reconnectTimeoutMs } : {}),
    onEvent: emit,
  });
  const pool = new ThreadPool(concurrency, Math.floor((opts.cacheBytes ?? 4 * 2 ** 30) / concurrency));
  const inputs = new WorkerInputs(link.client, keys, pool);
  const info: WorkerInfo = { id, host: hostname(), pid: process.pid, concurrency, since: Date.now() };
  const membership: RunMembership = new RunMembership(link, keys, info, membershipOptions, (job, token) => process_(job, token), emit, () => inputs.forgetRun());
  const process_ = shardJobProcessor({
    id,
    keys,
    limits: { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) },
    roots,
    redis: link.client,
    pool,
    inputs,
    emit,
    admitted: () => membership.runId,
    admit: (runId) => (membership.runId = runId),
    readMeta: () => readMeta(link, keys),
    ttlMs: () => membership.ttlMs,
  });
  emit({ type: 'connected', url: target.display, id, concurrency });

  try {
    while (!opts.signal?.aborted) {
      let meta: RunMeta | null | undefined;
      try {
        meta = await unlessAborted(readMeta(link, keys), opts.signal);
      } catch (e) {
        throw link.explain(e);
      }
      if (meta === undefined) break;
      if (meta && (!membership.joined || meta.runId !== membership.runId)) {
        await membership.leave();
        await membership.join(meta);
      } else if (!meta && membership.joined) {
        await membership.leave();
      }
      await sleep(pollMs, opts.signal);
    }
  } finally {
    await membership.leave();
    await pool.destroy();
    await link.close();
    emit({ type: 'stopped' });
  }
}
