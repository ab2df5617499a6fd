/**
 * What coordinator and workers agree on: what a run's meta and a worker's heartbeat say, what a
 * job says and what its answer holds, and what a worker accepts. The key names are in runKeys.ts,
 * the checks of a job against this in jobCheck.ts.
 */
import type { CurvatureKind, ShardRange } from '../curvature/index.js';
import type { DatasetSpec, Normalization } from '../data/index.js';
import type { BnMode, LossKind } from '../nn/index.js';

export const PROTOCOL_VERSION = 1;

/** What the coordinator publishes about a live run (the run key); workers admit themselves to its runId. */
export interface RunMeta {
  v: number;
  runId: string;
  /** Date.now() of the coordinator's last heartbeat */
  heartbeat: number;
  heartbeatMs: number;
  /** the TTL the coordinator gives the run's keys; a worker leaving gives it to keys it left without one */
  ttlMs: number;
}

/** What a worker publishes about itself while it serves a run (its key expires when it dies). */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  concurrency: number;
  since: number;
}

export interface ShardJob {
  v: number;
  runId: string;
  op: 'product' | 'loss';
  seq: number;
  shardIndex: number;
  modelHash: string;
  /** weights other than the model blob's own (after setWeights or for a loss evaluation) */
  thetaHash: string | null;
  parameters: number;
  dataset: { spec: DatasetSpec; normalize: Normalization | null };
  shard: ShardRange;
  batchSize: number;
  bnMode: BnMode;
  loss: LossKind;
  /** cross-entropy targets equal to it (padding) are left out of the mean */
  ignoreIndex?: number;
  kind: CurvatureKind;
  maxBlock: number;
  /** product jobs: where the k vectors are and how many */
  vectorKey?: string;
  k?: number;
  /**
   * The worker that computed this shard before and may hold its primal passes: other workers
   * leave the job to it for up to `preferMs` (from when they first see the job) while it is alive.
   */
  preferred?: string;
  preferMs?: number;
}

export interface ShardJobResult {
  resultKey?: string;
  samples: number;
  lossSum?: number;
  correct?: number;
  /** times the job was run again after a worker died, stalled or failed on it */
  retries: number;
  worker: string;
  /** bytes this job read from and wrote to Redis */
  bytesIn: number;
  bytesOut: number;
  ms: number;
}

/** What a worker accepts; anything beyond is rejected before a byte is loaded. */
export interface JobLimits {
  maxParameters: number;
  maxBlockVectors: number;
  maxVectorBytes: number;
  maxShardSamples: number;
  maxBatchSize: number;
  maxSyntheticSamples: number;
}

export const DEFAULT_LIMITS: JobLimits = {
  maxParameters: 200_000_000,
  maxBlockVectors: 64,
  maxVectorBytes: 2 ** 31,
  maxShardSamples: 10_000_000,
  maxBatchSize: 65_536,
  maxSyntheticSamples: 1_000_000,
};
