import type { SecondOrderContext } from '../autodiff/index.js';
import { OptionError } from '../errors.js';
import type { LinearOperator } from '../linalg/index.js';
import { secondOrder, type Batch, type BnMode, type LossKind, type Model, type ParamBlock } from '../nn/index.js';

export type CurvatureKind = 'hessian' | 'ggn';

export interface CurvatureOptions {
  kind?: CurvatureKind;
  bnMode?: BnMode;
  loss?: LossKind;
  /** cross-entropy: targets equal to this (padding) are left out of the mean */
  ignoreIndex?: number;
  /**
   * Most tangents carried through one pass. Default: min(8, max(1, ⌊512 / batch size⌋)). Measured
   * on ResNet-20 (2 cores), per tangent against single products: a block of 8 costs 0.67x at batch
   * 8 and 0.78x at batch 32; at batch 128 a block of 4 costs 0.88x but a block of 8 1.42x, its
   * tangents outgrowing the caches.
   */
  maxBlock?: number;
}

/** What an operator was computed on; every result records it. */
export interface CurvatureInfo {
  kind: CurvatureKind;
  bnMode: BnMode;
  loss: LossKind;
  samples: number;
  batches: number;
  parameters: number;
  blocks: string[];
}

/** A curvature operator that counts its products and the time spent in them. */
export interface CurvatureOperator extends LinearOperator {
  readonly info: CurvatureInfo;
  readonly stats: { products: number; ms: number };
}

function product(ctx: SecondOrderContext, kind: CurvatureKind, vs: readonly Float32Array[]): Float32Array[] {
  return kind === 'ggn' ? ctx.ggnBlock(vs) : ctx.hvpBlock(vs);
}

export function defaultMaxBlock(batchSize: number): number {
  return Math.min(8, Math.max(1, Math.floor(512 / Math.max(1, batchSize))));
}

/** Checks curvature options and fills in their defaults (the block size from the batch size). */
export function resolveCurvatureOptions(opts: CurvatureOptions, batchSize: number) {
  const kind = opts.kind ?? 'hessian';
  if (kind !== 'hessian' && kind !== 'ggn') throw new OptionError(`curvature must be 'hessian' or 'ggn', got '${kind}'`);
  const bnMode = opts.bnMode ?? 'eval';
  if (bnMode !== 'eval' && bnMode !== 'train') throw new OptionError(`BN mode must be 'eval' or 'train', got '${bnMode}'`);
  const maxBlock = opts.maxBlock ?? defaultMaxBlock(batchSize);
  if (!Number.isInteger(maxBlock) || maxBlock < 1) throw new OptionError(`maxBlock must be a positive integer, got ${maxBlock}`);
  const loss = opts.loss ?? 'cross-entropy';
  if (loss !== 'cross-entropy' && loss !== 'mse') throw new OptionError(`loss must be 'cross-entropy' or 'mse', got '${String(loss)}'`);
  return { kind, bnMode, loss, maxBlock };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Splits a block into chunks of at most `max` and concatenates the products. */
function chunked(vs: Float32Array[], max: number, f: (chunk: Float32Array[]) => Float32Array[]): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < vs.length; i += max) out.push(...f(vs.slice(i, i + max)));
  return out;
}

/**
 * A curvature operator from a block product: counts products and their time. Local products are
 * long synchronous computations, so each call first yields to the event loop: signals (Ctrl-C),
 * timers and progress output get through between products.
 */
export function countedOperator(
  base: { size: number; info: CurvatureInfo },
  matmat: (vs: Float32Array[]) => Float32Array[] | Promise<Float32Array[]>,
): CurvatureOperator {
  const stats = { products: 0, ms: 0 };
  const run = async (vs: Float32Array[]) => {
    await yieldToEventLoop();
    const t = performance.now();
    const r = await matmat(vs);
    stats.ms += performance.now() - t;
    stats.products += vs.length;
    return r;
  };
  return { ...base, stats, matvec: async (v) => (await run([v]))[0]!, matmat: run };
}

/**
 * The Hessian (or GGN) of the mean loss of `model` on one batch. The primal forward and backward
 * passes run once, here; each product replays only tangents.
 */
export function hessianOperator(model: Model, batch: Batch, opts: CurvatureOptions = {}): CurvatureOperator {
  const o = resolveCurvatureOptions(opts, batch.y.length);
  const ctx = secondOrder(model, batch, { bnMode: o.bnMode, loss: o.loss, ...(opts.ignoreIndex === undefined ? {} : { ignoreIndex: opts.ignoreIndex }) });
  const info: CurvatureInfo = {
    kind: o.kind,
    bnMode: o.bnMode,
    loss: o.loss,
    samples: batch.y.length,
    batches: 1,
    parameters: model.size,
    blocks: model.blocks.map((b) => b.name),
  };
  return countedOperator({ size: model.size, info }, (vs) => chunked(vs, o.maxBlock, (c) => product(ctx, o.kind, c)));
}

/** Something that yields the batches of a dataset, the same ones in the same order each time. */
export interface BatchSource {
  batches(): Iterable<Batch>;
}

export interface DatasetCurvatureOptions extends CurvatureOptions {
  /** bytes of primal passes to keep cached across products (default 4 GiB); batches beyond it are recomputed */
  cacheBytes?: number;
}

/**
 * The Hessian (or GGN) of the mean loss over a whole dataset: each product is the sum of the
 * batch products weighted by batch size, divided by the number of samples (PyHessian's
 * dataloader mode). Primal passes are kept while they fit `cacheBytes`, then recomputed.
 */
export function datasetHessianOperator(model: Model, source: BatchSource, opts: DatasetCurvatureOptions = {}): CurvatureOperator {
  let samples = 0, batches = 0, largest = 1;
  for (const b of source.batches()) {
    samples += b.y.length;
    batches++;
    largest = Math.max(largest, b.y.length);
  }
  const o = resolveCurvatureOptions(opts, largest);
  const budget = opts.cacheBytes ?? 4 * 2 ** 30;
  if (samples === 0) throw new OptionError('the dataset has no samples');
  const cache: (SecondOrderContext | undefined)[] = [];
  let cached = 0;
  const info: CurvatureInfo = {
    kind: o.kind,
    bnMode: o.bnMode,
    loss: o.loss,
    samples,
    batches,
    parameters: model.size,
    blocks: model.blocks.map((b) => b.name),
  };
  const matmat = (vs: Float32Array[]) => {
    const acc = vs.map(() => new Float64Array(model.size));
    let i = 0;
    for (const batch of source.batches()) {
      let ctx = cache[i];
      if (!ctx) {
        ctx = secondOrder(model, batch, { bnMode: o.bnMode, loss: o.loss, ...(opts.ignoreIndex === undefined ? {} : { ignoreIndex: opts.ignoreIndex }) });
        if (cached + ctx.primalBytes <= budget) {
          cache[i] = ctx;
          cached += ctx.primalBytes;
        }
      }
      const w = batch.y.length / samples;
      const ps = chunked(vs, o.maxBlock, (c) => product(ctx!, o.kind, c));
      ps.forEach((p, j) => {
        const a = acc[j]!;
        for (let t = 0; t < p.length; t++) a[t] += w * p[t]!;
      });
      i++;
    }
    return acc.map((a) => Float32Array.from(a));
  };
  return countedOperator({ size: model.size, info }, matmat);
}

/**
 * The operator restricted to a set of parameter blocks: the principal submatrix on those
 * coordinates, so every algorithm works per layer, per stage or on the BN parameters alone.
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
    matvec: async (u) => extract(await op.matvec(embed(u))),
    matmat: async (us) => (await (op.matmat ? op.matmat(us.map(embed)) : Promise.all(us.map((u) => op.matvec(embed(u)))))).map(extract),
  };
}
