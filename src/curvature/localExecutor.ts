import { ShapeError } from '../errors.js';
import type { Batch, Model } from '../nn/index.js';
import { PrimalCache, shardLossSums, shardProductSums } from './batchProducts.js';
import { combineShardLosses, combineShardSums, meteredProducts, resolveProblem, type ExecutorStats, type ShardExecutor, type ShardProblem } from './executor.js';
import type { CurvatureInfo, ResolvedCurvature } from './options.js';
import { shardBatches } from './shardPlan.js';

/** Something that yields the batches of a dataset, the same ones in the same order each time. */
export interface BatchSource {
  batches(): Iterable<Batch>;
}

export interface LocalOptions {
  /** bytes of primal passes kept across products (default 4 GiB) */
  cacheBytes?: number;
}

export const DEFAULT_CACHE_BYTES = 4 * 2 ** 30;

/**
 * Shards in this thread, one after another: each shard is a source of batches. The executor
 * computes on a copy of the model taken now, so later changes to the caller's weights or BN
 * statistics do not reach its products (setWeights moves the copy).
 */
export function localExecutor(model: Model, shards: readonly BatchSource[], curvature: ResolvedCurvature, info: CurvatureInfo, opts: LocalOptions = {}): ShardExecutor {
  const own = model.clone();
  const n = own.size;
  const cache = new PrimalCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
  const stats: ExecutorStats = { products: 0, shardProducts: 0, ms: 0 };
  const checkWeights = (theta: Float32Array) => {
    if (theta.length !== n) throw new ShapeError(`weights of length ${theta.length} were given for a model of ${n} parameters`);
  };
  return {
    size: n,
    info,
    stats,
    products: (vs) =>
      meteredProducts(stats, n, shards.length, vs, async (block) => {
        const parts = shards.map((s, i) => shardProductSums(own, s.batches(), curvature, block, cache, String(i)).sums);
        return combineShardSums(parts, block.length, n, info.samples);
      }),
    async losses(theta) {
      const at = theta ?? own.theta;
      checkWeights(at);
      return combineShardLosses(shards.map((s) => shardLossSums(own, s.batches(), curvature.objective, at)));
    },
    async setWeights(theta) {
      checkWeights(theta);
      own.theta.set(theta);
      cache.drop();
    },
    async close() {},
  };
}

/** Every shard of a problem in this thread (`--workers 1`): the reference the other executors must match. */
export function inProcessExecutor(problem: ShardProblem, opts: LocalOptions = {}): ShardExecutor {
  const r = resolveProblem(problem);
  const shards = r.plan.shards.map((shard) => ({ batches: () => shardBatches(problem.dataset, shard, r.plan.batchSize, r.normalize) }));
  return localExecutor(problem.model, shards, r, r.info, opts);
}
