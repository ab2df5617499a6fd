import type { SecondOrderContext } from '../autodiff/index.js';
import { ShapeError } from '../errors.js';
import { batchSize, evaluateBatch, secondOrder, type Batch, type Model } from '../nn/index.js';
import type { ResolvedCurvature, ResolvedObjective } from './options.js';

/** The products of one run of batches (a shard), before they are divided by the sample count. */
export interface ShardProducts {
  /** Σ over the batches of (batch size) × (batch product), k vectors of n back to back, float64 */
  sums: Float64Array;
  samples: number;
}

export interface ShardLoss {
  /** Σ over batches of (batch size) × (mean batch loss) */
  lossSum: number;
  /**
   * Σ over batches of (batch size) × (batch accuracy), weighted as the loss is: the correct
   * predictions for one label per sample; NaN for float targets
   */
  correct: number;
  samples: number;
}

/**
 * Recorded primal passes, kept while they fit a byte budget (the passes beyond it are recorded
 * again at every product). A pass belongs to the weights it was recorded at: whoever changes the
 * weights drops the passes.
 */
export class PrimalCache {
  private readonly runs = new Map<string, (SecondOrderContext | undefined)[]>();
  private used = 0;
  readonly stats = { primalPasses: 0, cachedPasses: 0 };

  constructor(private readonly budgetBytes: number) {}

  get bytes(): number {
    return this.used;
  }

  /**
   * `use` of the pass of batch `index` of the run of batches named `key`: the cached one, or
   * `record()` kept while it fits. A pass that does not fit is disposed of as soon as `use`
   * returns, so its memory goes straight back to the buffer pool for the next batch's pass (left
   * to the garbage collector, every such pass would take its memory fresh from the system).
   */
  withPass<T>(key: string, index: number, record: () => SecondOrderContext, use: (ctx: SecondOrderContext) => T): T {
    let run = this.runs.get(key);
    if (!run) {
      run = [];
      this.runs.set(key, run);
    }
    const cached = run[index];
    if (cached) {
      this.stats.cachedPasses++;
      return use(cached);
    }
    const ctx = record();
    this.stats.primalPasses++;
    if (this.used + ctx.primalBytes <= this.budgetBytes) {
      run[index] = ctx;
      this.used += ctx.primalBytes;
      return use(ctx);
    }
    try {
      return use(ctx);
    } finally {
      ctx.dispose();
    }
  }

  /** Drops the passes of every run whose key `matches` (all of them by default). */
  drop(matches: (key: string) => boolean = () => true): void {
    for (const [key, run] of this.runs) {
      if (!matches(key)) continue;
      for (const c of run) {
        if (!c) continue;
        this.used -= c.primalBytes;
        c.dispose();
      }
      this.runs.delete(key);
    }
  }
}

/**
 * The curvature products of `model` (at its current weights) on a run of batches with each of
 * `vs`, summed over the batches weighted by batch size, in float64. Every place products run (this
 * thread, a worker thread, a cluster worker) computes through this function, so all of them give
 * the same numbers.
 */
export function shardProductSums(
  model: Model,
  batches: Iterable<Batch>,
  curvature: ResolvedCurvature,
  vs: readonly Float32Array[],
  cache: PrimalCache,
  key: string,
): ShardProducts {
  const n = model.size;
  const k = vs.length;
  for (const v of vs) if (v.length !== n) throw new ShapeError(`a vector of length ${v.length} was given for a model of ${n} parameters`);
  const sums = new Float64Array(k * n);
  let samples = 0;
  let b = 0;
  for (const batch of batches) {
    const w = batchSize(batch);
    cache.withPass(key, b++, () => secondOrder(model, batch, curvature.objective), (ctx) => {
      for (let j0 = 0; j0 < k; j0 += curvature.maxBlock) {
        const chunk = vs.slice(j0, j0 + curvature.maxBlock);
        const ps = curvature.kind === 'ggn' ? ctx.ggnBlock(chunk) : ctx.hvpBlock(chunk);
        ps.forEach((p, dj) => {
          const off = (j0 + dj) * n;
          for (let t = 0; t < n; t++) sums[off + t] += w * p[t]!;
        });
      }
    });
    samples += w;
  }
  return { sums, samples };
}

/** Loss and correct predictions of `model` at `theta` on a run of batches (a forward pass each, nothing cached). */
export function shardLossSums(model: Model, batches: Iterable<Batch>, objective: ResolvedObjective, theta: Float32Array): ShardLoss {
  if (theta.length !== model.size) throw new ShapeError(`weights of length ${theta.length} were given for a model of ${model.size} parameters`);
  let lossSum = 0, correct = 0, samples = 0;
  for (const batch of batches) {
    const r = evaluateBatch(model, batch, { ...objective, theta });
    lossSum += r.loss * r.samples;
    // rows over targets is exactly 1 for class labels, so their count stays an integer
    correct += r.correct * (r.samples / r.targets);
    samples += r.samples;
  }
  return { lossSum, correct, samples };
}
