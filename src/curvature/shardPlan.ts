import type { AnyDataset, Normalization } from '../data/index.js';
import { normalizeInPlace } from '../data/index.js';
import { OptionError } from '../errors.js';
import type { Batch } from '../nn/index.js';

/** Samples [start, end) of a dataset: one unit of work, owned by one worker at a time. */
export interface ShardRange {
  start: number;
  end: number;
}

/**
 * How a dataset is cut into shards, and the batch size within each shard. The batches of a shard
 * are start, start + batchSize, ... (the last one may be smaller).
 */
export interface ShardPlan {
  batchSize: number;
  shards: ShardRange[];
}

export interface PlanOptions {
  batchSize: number;
  /** number of shards (default 1); capped at the number of batches */
  shards?: number;
}

/**
 * Cuts `length` samples into contiguous shards on batch boundaries, so that every batch is the
 * one a single sequential pass with the same batch size would see (this matters for BN in train
 * mode, where a batch's composition changes its curvature).
 */
export function planShards(length: number, opts: PlanOptions): ShardPlan {
  const { batchSize } = opts;
  if (!Number.isInteger(length) || length <= 0) throw new OptionError(`a shard plan needs a dataset with samples, got ${length}`);
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new OptionError(`batch size must be a positive integer, got ${batchSize}`);
  const batches = Math.ceil(length / batchSize);
  const wanted = opts.shards ?? 1;
  if (!Number.isInteger(wanted) || wanted <= 0) throw new OptionError(`the number of shards must be a positive integer, got ${wanted}`);
  const count = Math.min(wanted, batches);
  const shards: ShardRange[] = [];
  for (let s = 0; s < count; s++) {
    const b0 = Math.floor((s * batches) / count);
    const b1 = Math.floor(((s + 1) * batches) / count);
    shards.push({ start: b0 * batchSize, end: Math.min(length, b1 * batchSize) });
  }
  return { batchSize, shards };
}

/** Checks that a plan's shards are non-empty ranges inside `length` that do not overlap. */
export function checkShardPlan(plan: ShardPlan, length: number, what = 'the dataset'): void {
  if (!Number.isInteger(plan.batchSize) || plan.batchSize <= 0) throw new OptionError(`the shard plan's batch size must be a positive integer, got ${plan.batchSize}`);
  if (!Array.isArray(plan.shards) || plan.shards.length === 0) throw new OptionError('the shard plan has no shards');
  const sorted = [...plan.shards].sort((a, b) => a.start - b.start);
  let last = 0;
  for (const s of sorted) {
    if (!Number.isInteger(s.start) || !Number.isInteger(s.end) || s.start < 0 || s.end > length || s.start >= s.end) {
      throw new OptionError(`shard [${s.start}, ${s.end}) is not a non-empty range inside ${what} (0..${length})`);
    }
    if (s.start < last) throw new OptionError(`shard [${s.start}, ${s.end}) overlaps another shard; shards must not share samples`);
    last = s.end;
  }
}

export function planSamples(plan: ShardPlan): number {
  return plan.shards.reduce((n, s) => n + (s.end - s.start), 0);
}

export function shardBatchCount(shard: ShardRange, batchSize: number): number {
  return Math.ceil((shard.end - shard.start) / batchSize);
}

/** The batches of one shard, in order, normalised when asked; a tensor set's batches keep their target shape and input kind. */
export function* shardBatches(dataset: AnyDataset, shard: ShardRange, batchSize: number, normalize: Normalization | null = null): Generator<Batch> {
  for (let at = shard.start; at < shard.end; at += batchSize) {
    const to = Math.min(shard.end, at + batchSize);
    const batch: Batch = dataset.get(Uint32Array.from({ length: to - at }, (_, i) => at + i));
    if (normalize) normalizeInPlace(batch.x, normalize);
    yield batch;
  }
}

/**
 * Every batch of the plan, shard after shard: what an in-process reference operator
 * (datasetHessianOperator) sees when it should agree with a sharded executor.
 */
export function planBatchSource(dataset: AnyDataset, plan: ShardPlan, normalize: Normalization | null = null): { batches(): Iterable<Batch> } {
  return {
    *batches() {
      for (const shard of plan.shards) yield* shardBatches(dataset, shard, plan.batchSize, normalize);
    },
  };
}
