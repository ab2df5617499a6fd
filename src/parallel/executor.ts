import { countedOperator, resolveCurvatureOptions, type CurvatureInfo, type CurvatureKind, type CurvatureOperator } from '../curvature/index.js';
import type { Dataset, Normalization } from '../data/index.js';
import { ShapeError } from '../errors.js';
import type { BnMode, LossKind, Model } from '../nn/index.js';
import { checkShardPlan, planSamples, shardBatchCount, type ShardPlan } from './shardPlan.js';

/**
 * What a sharded computation is about: a model (its architecture and weights, read when the
 * executor is made), a loss, a dataset cut by a shard plan, a BN mode and an operator kind.
 */
export interface ShardProblem {
  model: Model;
  /** must carry a `spec` for workers in other threads or processes, which load it themselves */
  dataset: Dataset;
  normalize?: Normalization | null;
  plan: ShardPlan;
  kind?: CurvatureKind;
  bnMode?: BnMode;
  loss?: LossKind;
  /** most tangents carried through one pass (default 8) */
  maxBlock?: number;
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
 * Runs curvature products of a whole dataset shard by shard, wherever the shards live. Products
 * are the batch-size-weighted mean over all samples (datasetHessianOperator's semantics), summed in
 * float64 in shard order, so the result does not depend on which worker finished first.
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

export interface ResolvedProblem {
  kind: CurvatureKind;
  bnMode: BnMode;
  loss: LossKind;
  maxBlock: number;
  normalize: Normalization | null;
  plan: ShardPlan;
  info: CurvatureInfo;
}

/** Checks a problem and fills in its defaults. */
export function resolveProblem(p: ShardProblem): ResolvedProblem {
  const { kind, bnMode, loss, maxBlock } = resolveCurvatureOptions(p, p.plan.batchSize);
  checkShardPlan(p.plan, p.dataset.length, `dataset ${p.dataset.name}`);
  const plan: ShardPlan = { batchSize: p.plan.batchSize, shards: p.plan.shards.map((s) => ({ start: s.start, end: s.end })) };
  const info: CurvatureInfo = {
    kind,
    bnMode,
    loss,
    samples: planSamples(plan),
    batches: plan.shards.reduce((n, s) => n + shardBatchCount(s, plan.batchSize), 0),
    parameters: p.model.size,
    blocks: p.model.blocks.map((b) => b.name),
  };
  return { kind, bnMode, loss, maxBlock, normalize: p.normalize ?? null, plan, info };
}

export function checkVectors(vs: readonly Float32Array[], size: number): void {
  for (const v of vs) {
    if (!(v instanceof Float32Array) || v.length !== size) {
      throw new ShapeError(`a vector of length ${v.length} was given to an operator of size ${size}; pass Float32Arrays of length ${size}`);
    }
  }
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

/** The executor as a CurvatureOperator, so every algorithm in linalg/ runs on it unchanged. */
export function executorOperator(executor: ShardExecutor): CurvatureOperator {
  return countedOperator({ size: executor.size, info: executor.info }, (vs) => executor.products(vs));
}
