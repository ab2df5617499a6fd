import type { AnyDataset, Normalization } from '../data/index.js';
import { ShapeError } from '../errors.js';
import type { Model } from '../nn/index.js';
import { curvatureInfo, resolveCurvatureOptions, type CurvatureInfo, type CurvatureOptions, type ResolvedCurvature } from './options.js';
import { checkShardPlan, planSamples, shardBatchCount, type ShardPlan } from './shardPlan.js';

/**
 * What a sharded computation is about: a model (its architecture and weights, read when the
 * executor is made), the curvature (kind and objective), and a dataset cut by a shard plan.
 */
export interface ShardProblem extends CurvatureOptions {
  model: Model;
  /** must carry a `spec` for workers in other threads or processes, which load it themselves */
  dataset: AnyDataset;
  normalize?: Normalization | null;
  plan: ShardPlan;
}

export interface LossResult {
  loss: number;
  accuracy: number;
  samples: number;
}

export interface ExecutorStats {
  /** vectors multiplied (a block of k counts k) */
  products: number;
  /** shard products computed, retries included */
  shardProducts: number;
  ms: number;
}

/**
 * Runs curvature products of a whole dataset shard by shard, wherever the shards live (this
 * thread, worker threads, a cluster: parallel/ implements the others). Products are the
 * batch-size-weighted mean over all samples, summed in float64 in shard order, so the result does
 * not depend on which worker finished first. An executor computes at the weights it was made with
 * (or was last given by setWeights), whatever happens to the caller's model afterwards.
 */
export interface ShardExecutor {
  readonly size: number;
  readonly info: CurvatureInfo;
  readonly stats: ExecutorStats;
  products(vs: Float32Array[]): Promise<Float32Array[]>;
  /** Loss and accuracy over all shards at `theta` (the current weights when absent); the weights are not changed. */
  losses(theta?: Float32Array): Promise<LossResult>;
  /** New weights for the following products; every cached primal pass is dropped. */
  setWeights(theta: Float32Array): Promise<void>;
  close(): Promise<void>;
}

/** Where products run: makes the executor for a problem (inProcessExecutor, threadExecutor, clusterExecutor, ...). */
export type ExecutorFactory = (problem: ShardProblem) => ShardExecutor | Promise<ShardExecutor>;

export interface ResolvedProblem extends ResolvedCurvature {
  /** the objective's two named fields, also inside `objective` */
  bnMode: ResolvedCurvature['objective']['bnMode'];
  loss: ResolvedCurvature['objective']['loss'];
  normalize: Normalization | null;
  plan: ShardPlan;
  info: CurvatureInfo;
}

/** Checks a problem and fills in its defaults. */
export function resolveProblem(p: ShardProblem): ResolvedProblem {
  const { model, dataset, normalize, plan: given, ...curvature } = p;
  const c = resolveCurvatureOptions(curvature, given.batchSize);
  checkShardPlan(given, dataset.length, `dataset ${dataset.name}`);
  const plan: ShardPlan = { batchSize: given.batchSize, shards: given.shards.map((s) => ({ start: s.start, end: s.end })) };
  const batches = plan.shards.reduce((n, s) => n + shardBatchCount(s, plan.batchSize), 0);
  return { ...c, bnMode: c.objective.bnMode, loss: c.objective.loss, normalize: normalize ?? null, plan, info: curvatureInfo(model, c, planSamples(plan), batches) };
}

export function checkVectors(vs: readonly Float32Array[], size: number): void {
  for (const v of vs) {
    if (!(v instanceof Float32Array) || v.length !== size) {
      throw new ShapeError(`a vector of length ${v.length} was given to an operator of size ${size}; pass Float32Arrays of length ${size}`);
    }
  }
}

/**
 * The one place products are counted and timed: every executor runs its products through this.
 * Checks the vectors, answers an empty block at once, and adds to `stats` what `run` computed.
 */
export async function meteredProducts(
  stats: ExecutorStats,
  size: number,
  shards: number,
  vs: Float32Array[],
  run: (vs: Float32Array[]) => Promise<Float32Array[]>,
): Promise<Float32Array[]> {
  checkVectors(vs, size);
  if (vs.length === 0) return [];
  const t0 = performance.now();
  const out = await run(vs);
  stats.products += vs.length;
  stats.shardProducts += shards;
  stats.ms += performance.now() - t0;
  return out;
}

/**
 * Adds shard results in shard order: `parts[s]` holds k vectors of n (float64 or float32) summed
 * over shard s weighted by batch size; the result is their sum divided by the sample count.
 */
export function combineShardSums(parts: readonly (Float64Array | Float32Array)[], k: number, n: number, samples: number): Float32Array[] {
  const acc = new Float64Array(k * n);
  for (const p of parts) {
    if (p.length !== k * n) throw new ShapeError(`a shard returned ${p.length} values where ${k}×${n} were expected`);
    for (let i = 0; i < acc.length; i++) acc[i] += p[i]!;
  }
  const out: Float32Array[] = [];
  for (let j = 0; j < k; j++) {
    const o = new Float32Array(n);
    for (let t = 0; t < n; t++) o[t] = acc[j * n + t]! / samples;
    out.push(o);
  }
  return out;
}

/** Adds shard losses in shard order into the dataset's mean loss and accuracy. */
export function combineShardLosses(parts: readonly { lossSum: number; correct: number; samples: number }[]): LossResult {
  let lossSum = 0, correct = 0, samples = 0;
  for (const p of parts) {
    lossSum += p.lossSum;
    correct += p.correct;
    samples += p.samples;
  }
  return { loss: lossSum / samples, accuracy: correct / samples, samples };
}
