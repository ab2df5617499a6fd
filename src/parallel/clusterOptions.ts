/** What a cluster run is asked for (its options, checked with their defaults) and what it tells. */
import type { DatasetSpec } from '../data/index.js';
import { OptionError } from '../errors.js';
import type { ShardExecutor } from '../curvature/index.js';
import type { LinkEvent } from './linkHealth.js';

export interface ClusterProgress {
  /** vectors multiplied so far (a block of k counts k) */
  products: number;
  jobsDone: number;
  jobsPending: number;
  /** distinct workers that have served this run */
  workersSeen: number;
  /** workers whose heartbeat is current */
  workersAlive: number;
  /** shard jobs started again after a worker died, stalled or failed */
  retries: number;
  /** bytes the coordinator wrote to and read from Redis (vectors, weights, results) */
  bytesSent: number;
  bytesReceived: number;
  /** bytes the workers read and wrote for their jobs */
  workerBytes: number;
}

/** What the coordinator says about Redis: unreachable (once per outage, with how long it keeps trying) and back again. */
export type ClusterEvent = LinkEvent;

export interface ClusterOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS */
  redisUrl: string;
  /** the workers serve runs by name (default 'hesse'); one coordinator per name at a time */
  runName?: string;
  /** stop with an error when jobs wait and no worker has been alive for this long (default 30 s) */
  workerTimeoutMs?: number;
  /** attempts per shard job before the run fails (default 5) */
  attempts?: number;
  /** the dataset as the workers should load it (e.g. a path relative to their dataset roots); default: the dataset's own spec */
  remoteSpec?: DatasetSpec;
  onProgress?: (p: ClusterProgress) => void;
  /** Redis unreachable and back; the run fails with a ClusterError once it has been away for `reconnectTimeoutMs` */
  onEvent?: (e: ClusterEvent) => void;
  /** how long one attempt to reach Redis may take; the first failing one fails the executor (default 3 s) */
  connectTimeoutMs?: number;
  /** after losing Redis mid-run, how long to keep trying before failing the pending products (default 60 s) */
  reconnectTimeoutMs?: number;
  /** TTL of every key of the run, renewed while the coordinator lives (default 10 min) */
  runTtlMs?: number;
  /** how often the coordinator renews its keys and counts workers (default 1 s) */
  heartbeatMs?: number;
  /**
   * How long a shard job waits for the worker that computed it before (and holds its primal
   * passes) before any worker may take it (default 5 s; 0 turns affinity off).
   */
  affinityMs?: number;
  /** aborting rejects the pending products at once with a ClusterAbortedError; close() then removes the run */
  signal?: AbortSignal;
}

export interface ClusterExecutor extends ShardExecutor {
  progress(): ClusterProgress;
  /** the run's id (workers admit themselves to it) */
  readonly runId: string;
}

function ms(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min) throw new OptionError(`${name} must be a number of milliseconds of at least ${min}, got ${v}`);
  return v;
}

export type ClusterSettings = ReturnType<typeof clusterSettings>;

/** The options with their defaults, checked. */
export function clusterSettings(o: ClusterOptions) {
  const heartbeatMs = ms('heartbeatMs', o.heartbeatMs, 1000, 10);
  const s = {
    heartbeatMs,
    runTtlMs: ms('runTtlMs', o.runTtlMs, 600_000, 3 * heartbeatMs),
    workerTimeoutMs: ms('workerTimeoutMs', o.workerTimeoutMs, 30_000, 1),
    connectTimeoutMs: ms('connectTimeoutMs', o.connectTimeoutMs, 3000, 1),
    reconnectTimeoutMs: ms('reconnectTimeoutMs', o.reconnectTimeoutMs, 60_000, 0),
    affinityMs: ms('affinityMs', o.affinityMs, 5000, 0),
    attempts: o.attempts ?? 5,
  };
  if (!Number.isInteger(s.attempts) || s.attempts < 1) throw new OptionError(`attempts must be a positive integer, got ${s.attempts}`);
  return s;
}
