/** What a cluster worker is asked for (its options, checked with their defaults) and what it tells. */
import { randomUUID } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import { OptionError } from '../errors.js';
import { DEFAULT_LIMITS, type JobLimits } from './clusterProtocol.js';
import { realRoots } from './datasetRoots.js';
import type { LinkEvent } from './linkHealth.js';
import { RunKeys } from './runKeys.js';
import { parseRedisUrl, resolveRedisUrl, type RedisTarget } from './redisUrl.js';

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

/** How a worker serves a run: its BullMQ worker's settings. */
export interface MembershipOptions {
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
}

/** A worker's options, checked, with their defaults. */
export interface WorkerSettings {
  target: RedisTarget;
  keys: RunKeys;
  concurrency: number;
  membership: MembershipOptions;
  pollMs: number;
  /** real paths of the dataset roots */
  roots: string[];
  id: string;
  connectTimeoutMs: number;
  limits: JobLimits;
  /** bytes of primal passes each thread keeps */
  threadCacheBytes: number;
}

function positive(name: string, v: number | undefined, fallback: number): number {
  const x = v ?? fallback;
  if (!Number.isFinite(x) || x <= 0) throw new OptionError(`${name} must be a positive number, got ${x}`);
  return x;
}

/** Checks the options in the order a wrong one is reported: the Redis URL first, the connect timeout last. */
export async function workerSettings(opts: RunWorkerOptions): Promise<WorkerSettings> {
  const target = parseRedisUrl(resolveRedisUrl(opts.redisUrl));
  const keys = new RunKeys(opts.runName ?? 'hesse');
  const concurrency = opts.concurrency ?? availableParallelism();
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new OptionError(`concurrency must be a positive integer, got ${concurrency}`);
  const membership = {
    concurrency,
    lockDurationMs: positive('lockDurationMs', opts.lockDurationMs, 6000),
    stalledIntervalMs: positive('stalledIntervalMs', opts.stalledIntervalMs, 3000),
    maxStalledCount: opts.maxStalledCount ?? 3,
  };
  const pollMs = positive('pollMs', opts.pollMs, 500);
  const roots = await realRoots(opts.datasetRoots ?? []);
  const id = opts.id ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const connectTimeoutMs = positive('connectTimeoutMs', opts.connectTimeoutMs, 3000);
  return {
    target,
    keys,
    concurrency,
    membership,
    pollMs,
    roots,
    id,
    connectTimeoutMs,
    limits: { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) },
    threadCacheBytes: Math.floor((opts.cacheBytes ?? 4 * 2 ** 30) / concurrency),
  };
}
