import type { SecondOrderContext } from '../autodiff/index.js';
import type { CurvatureKind } from '../curvature/index.js';
import type { Dataset, Normalization } from '../data/index.js';
import { OptionError, ShapeError } from '../errors.js';
import { evaluateBatch, secondOrder, type BnMode, type LossKind, type Model } from '../nn/index.js';
import { shardBatches, type ShardRange } from './shardPlan.js';

/** The weights to compute at: `id` changes whenever the values do (a version or a hash). */
export interface ThetaRef {
  id: string;
  data: Float32Array;
}

/** Everything that fixes one shard's curvature, apart from the vectors. */
export interface ShardTask {
  modelHash: string;
  /** the opened dataset's identity (its spec as JSON), for the cache */
  datasetKey: string;
  normalize: Normalization | null;
  shard: ShardRange;
  batchSize: number;
  bnMode: BnMode;
  loss: LossKind;
  kind: CurvatureKind;
  maxBlock: number;
}

export interface ShardProducts {
  /** Σ over the shard's batches of (batch size) × (batch product), k vectors of n back to back, float64 */
  sums: Float64Array;
  samples: number;
}

export interface ShardLoss {
  /** Σ over batches of (batch size) × (mean batch loss) */
  lossSum: number;
  correct: number;
  samples: number;
}

function checkShard(dataset: Dataset, shard: ShardRange): void {
  if (shard.start < 0 || shard.end > dataset.length || shard.start >= shard.end) {
    throw new OptionError(`shard [${shard.start}, ${shard.end}) is not inside dataset ${dataset.name} of ${dataset.length} samples`);
  }
}

interface CacheEntry {
  modelHash: string;
  contexts: (SecondOrderContext | undefined)[];
}

/**
 * One compute place (the main thread, a worker thread): the models it has loaded and the primal
 * passes of the shards it has seen, kept while they fit `cacheBytes` and while the weights are
 * unchanged. Every executor computes through this class, so all of them give the same numbers.
 */
export class ShardWorkspace {
  private readonly models = new Map<string, { model: Model; thetaId: string | null }>();
  private readonly cache = new Map<string, CacheEntry>();
  private cachedBytes = 0;
  readonly stats = { primalPasses: 0, cachedPasses: 0 };

  constructor(
    private readonly cacheBytes: number,
    private readonly maxModels = 2,
  ) {}

  hasModel(hash: string): boolean {
    return this.models.has(hash);
  }

  /** Adds a model under its blob hash; the oldest beyond `maxModels` is dropped with its caches. */
  addModel(hash: string, model: Model): void {
    if (this.models.has(hash)) return;
    this.models.set(hash, { model, thetaId: null });
    while (this.models.size > this.maxModels) this.dropModel(this.models.keys().next().value!);
  }

  modelSize(hash: string): number {
    return this.entry(hash).model.size;
  }

  get bytesCached(): number {
    return this.cachedBytes;
  }

  private dropModel(hash: string): void {
    this.models.delete(hash);
    this.dropContexts(hash);
  }

  private dropContexts(modelHash: string): void {
    for (const [key, e] of this.cache) {
      if (e.modelHash !== modelHash) continue;
      for (const c of e.contexts) if (c) this.cachedBytes -= c.primalBytes;
      this.cache.delete(key);
    }
  }

  private entry(hash: string) {
    const m = this.models.get(hash);
    if (!m) throw new OptionError(`model ${hash.slice(0, 12)}… is not loaded in this worker`);
    return m;
  }

  /** Puts `theta` into the model; cached primal passes belong to the old weights and go. */
  private useTheta(hash: string, theta: ThetaRef): Model {
    const m = this.entry(hash);
    if (m.thetaId !== theta.id) {
      if (theta.data.length !== m.model.size) throw new ShapeError(`weights of length ${theta.data.length} were given for a model of ${m.model.size} parameters`);
      m.model.theta.set(theta.data);
      m.thetaId = theta.id;
      this.dropContexts(hash);
    }
    return m.model;
  }

  /** Products of the shard's curvature with `vs`, summed over its batches weighted by batch size. */
  product(dataset: Dataset, task: ShardTask, theta: ThetaRef, vs: readonly Float32Array[]): ShardProducts {
    checkShard(dataset, task.shard);
    const model = this.useTheta(task.modelHash, theta);
    const n = model.size;
    const k = vs.length;
    for (const v of vs) if (v.length !== n) throw new ShapeError(`a vector of length ${v.length} was given for a model of ${n} parameters`);
    const key = [task.modelHash, task.datasetKey, JSON.stringify(task.normalize), task.bnMode, task.loss, task.batchSize, task.shard.start, task.shard.end].join('|');
    let entry = this.cache.get(key);
    if (!entry) {
      entry = { modelHash: task.modelHash, contexts: [] };
      this.cache.set(key, entry);
    }
    const sums = new Float64Array(k * n);
    let samples = 0;
    let b = 0;
    for (const batch of shardBatches(dataset, task.shard, task.batchSize, task.normalize)) {
      let ctx = entry.contexts[b];
      if (ctx) this.stats.cachedPasses++;
      else {
        ctx = secondOrder(model, batch, { bnMode: task.bnMode, loss: task.loss });
        this.stats.primalPasses++;
        if (this.cachedBytes + ctx.primalBytes <= this.cacheBytes) {
          entry.contexts[b] = ctx;
          this.cachedBytes += ctx.primalBytes;
        }
      }
      const w = batch.y.length;
      for (let j0 = 0; j0 < k; j0 += task.maxBlock) {
        const chunk = vs.slice(j0, j0 + task.maxBlock);
        const ps = task.kind === 'ggn' ? ctx.ggnBlock(chunk) : ctx.hvpBlock(chunk);
        ps.forEach((p, dj) => {
          const off = (j0 + dj) * n;
          for (let t = 0; t < n; t++) sums[off + t] += w * p[t]!;
        });
      }
      samples += w;
      b++;
    }
    return { sums, samples };
  }

  /** Loss and correct predictions over the shard at `theta` (a forward pass per batch, nothing cached). */
  evaluate(dataset: Dataset, task: Omit<ShardTask, 'kind' | 'maxBlock'>, theta: Float32Array): ShardLoss {
    checkShard(dataset, task.shard);
    const model = this.entry(task.modelHash).model;
    if (theta.length !== model.size) throw new ShapeError(`weights of length ${theta.length} were given for a model of ${model.size} parameters`);
    let lossSum = 0, correct = 0, samples = 0;
    for (const batch of shardBatches(dataset, task.shard, task.batchSize, task.normalize)) {
      const r = evaluateBatch(model, batch, { bnMode: task.bnMode, loss: task.loss, theta });
      lossSum += r.loss * r.samples;
      correct += Math.round(r.accuracy * r.samples);
      samples += r.samples;
    }
    return { lossSum, correct, samples };
  }
}
