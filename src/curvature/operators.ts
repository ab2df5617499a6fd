import type { AnyDataset, Normalization } from '../data/index.js';
import { OptionError } from '../errors.js';
import type { LinearOperator } from '../linalg/index.js';
import { batchSize, type Batch, type Model, type ParamBlock } from '../nn/index.js';
import type { ExecutorFactory, ShardExecutor } from './executor.js';
import { inProcessExecutor, localExecutor, type BatchSource, type LocalOptions } from './localExecutor.js';
import { curvatureInfo, resolveCurvatureOptions, type CurvatureInfo, type CurvatureOptions } from './options.js';
import type { ShardPlan } from './shardPlan.js';

/**
 * A curvature operator: the products of an executor, as the LinearOperator every algorithm in
 * linalg/ runs on. It counts its products and their time (its executor's count), and computes at
 * the weights it was built for.
 */
export interface CurvatureOperator extends LinearOperator {
  readonly info: CurvatureInfo;
  readonly stats: { readonly products: number; readonly ms: number };
  /** where the products run; also gives losses at other weights (landscapes) */
  readonly executor: ShardExecutor;
  /** Frees the executor's workers (worker threads, a cluster run); a local operator holds none. */
  close(): Promise<void>;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The executor's products as a CurvatureOperator. Local products are long synchronous
 * computations, so each call first yields to the event loop: signals (Ctrl-C), timers and
 * progress output get through between products.
 */
export function executorOperator(executor: ShardExecutor): CurvatureOperator {
  const run = async (vs: Float32Array[]) => {
    await yieldToEventLoop();
    return executor.products(vs);
  };
  return { size: executor.size, info: executor.info, stats: executor.stats, executor, matvec: async (v) => (await run([v]))[0]!, matmat: run, close: () => executor.close() };
}

/** A dataset read shard by shard: what the products of a sharded operator average over. */
export interface ShardedData {
  dataset: AnyDataset;
  normalize?: Normalization | null;
  plan: ShardPlan;
}

export interface CurvatureOperatorOptions extends CurvatureOptions {
  /** where the products run (default: this thread) */
  place?: ExecutorFactory;
}

/**
 * The one road from a model and data to a curvature operator: the Hessian (or GGN) of the mean
 * loss over the plan's samples, batch products weighted by batch size (PyHessian's dataloader
 * mode; one batch is a plan of one shard of one batch). Where the products run is `place`: this
 * thread by default, or worker threads or a cluster (parallel/); every place computes each shard
 * with the same batch-product code.
 */
export async function curvatureOperator(model: Model, data: ShardedData, opts: CurvatureOperatorOptions = {}): Promise<CurvatureOperator> {
  const { place = inProcessExecutor, ...curvature } = opts;
  return executorOperator(await place({ model, ...data, ...curvature }));
}

/**
 * The Hessian (or GGN) of the mean loss of `model` on one batch held in memory. The primal
 * forward and backward passes run once, at the first product; each further product replays only
 * tangents.
 */
export function hessianOperator(model: Model, batch: Batch, opts: CurvatureOptions = {}): CurvatureOperator {
  const c = resolveCurvatureOptions(opts, batchSize(batch));
  // one batch is always kept: recording it again at every product would cost a pass each time
  return executorOperator(localExecutor(model, [{ batches: () => [batch] }], c, curvatureInfo(model, c, batchSize(batch), 1), { cacheBytes: Infinity }));
}

export interface DatasetCurvatureOptions extends CurvatureOptions, LocalOptions {}

/**
 * The Hessian (or GGN) of the mean loss over every batch a source yields, in this thread: the
 * sum of the batch products weighted by batch size, divided by the number of samples. Primal
 * passes are kept while they fit `cacheBytes` (default 4 GiB), then recomputed.
 */
export function datasetHessianOperator(model: Model, source: BatchSource, opts: DatasetCurvatureOptions = {}): CurvatureOperator {
  const { cacheBytes, ...curvature } = opts;
  let samples = 0, batches = 0, largest = 1;
  for (const b of source.batches()) {
    samples += batchSize(b);
    batches++;
    largest = Math.max(largest, batchSize(b));
  }
  if (samples === 0) throw new OptionError('the dataset has no samples');
  const c = resolveCurvatureOptions(curvature, largest);
  return executorOperator(localExecutor(model, [source], c, curvatureInfo(model, c, samples, batches), cacheBytes !== undefined ? { cacheBytes } : {}));
}

/**
 * The operator restricted to a set of parameter blocks: the principal submatrix on those
 * coordinates, so every algorithm works per layer, per stage or on the BN parameters alone. It
 * shares the operator's executor and counts.
 */
export function restrictOperator(op: CurvatureOperator, blocks: readonly ParamBlock[]): CurvatureOperator {
  const size = blocks.reduce((s, b) => s + b.length, 0);
  const embed = (u: Float32Array) => {
    const full = new Float32Array(op.size);
    let at = 0;
    for (const b of blocks) {
      full.set(u.subarray(at, at + b.length), b.offset);
      at += b.length;
    }
    return full;
  };
  const extract = (full: Float32Array) => {
    const u = new Float32Array(size);
    let at = 0;
    for (const b of blocks) {
      u.set(full.subarray(b.offset, b.offset + b.length), at);
      at += b.length;
    }
    return u;
  };
  const info: CurvatureInfo = { ...op.info, parameters: size, blocks: blocks.map((b) => b.name) };
  return {
    size,
    info,
    stats: op.stats,
    executor: op.executor,
    close: () => op.close(),
    matvec: async (u) => extract(await op.matvec(embed(u))),
    matmat: async (us) => (await (op.matmat ? op.matmat(us.map(embed)) : Promise.all(us.map((u) => op.matvec(embed(u)))))).map(extract),
  };
}
