import { availableParallelism } from 'node:os';
import type { CurvatureKind } from '../curvature/index.js';
import type { Dataset, Normalization } from '../data/index.js';
import { OptionError } from '../errors.js';
import type { BnMode, Model } from '../nn/index.js';
import { createExecutor, planShards, type ClusterProgress, type ShardExecutor } from '../parallel/index.js';

export interface ExecutorChoice {
  /** local worker threads (1: this thread); default one per core */
  workers?: number;
  /** redis://... : products on a cluster of `hesse worker` processes */
  cluster?: string;
  runName?: string;
  onClusterProgress?: (p: ClusterProgress) => void;
}

/**
 * Where the products of a whole-dataset Hessian run: this thread, worker threads (one per core by
 * default, the dataset cut into one shard per worker), or a Redis cluster (shards of a few
 * batches, so that workers joining later find work).
 */
export async function datasetExecutor(
  o: { model: Model; dataset: Dataset; normalize: Normalization | null; kind: CurvatureKind; bnMode: BnMode; batchSize?: number } & ExecutorChoice,
): Promise<ShardExecutor> {
  const batchSize = o.batchSize ?? 128;
  const workers = o.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 1) throw new OptionError(`--workers must be a positive integer, got ${workers}`);
  const batches = Math.ceil(o.dataset.length / batchSize);
  const shards = o.cluster ? Math.min(batches, Math.max(2, Math.ceil(batches / 4))) : workers;
  const problem = { model: o.model, dataset: o.dataset, normalize: o.normalize, plan: planShards(o.dataset.length, { batchSize, shards }), kind: o.kind, bnMode: o.bnMode };
  return createExecutor(problem, {
    workers,
    ...(o.cluster
      ? { cluster: { redisUrl: o.cluster, ...(o.runName ? { runName: o.runName } : {}), ...(o.onClusterProgress ? { onProgress: o.onClusterProgress } : {}) } }
      : {}),
  });
}
