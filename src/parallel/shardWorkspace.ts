import { PrimalCache, resolveObjective, shardBatches, shardLossSums, shardProductSums, type CurvatureKind, type ShardLoss, type ShardProducts, type ShardRange } from '../curvature/index.js';
import type { AnyDataset, Normalization } from '../data/index.js';
import { OptionError, ShapeError } from '../errors.js';
import type { BnMode, LossKind, Model, ObjectiveOptions } from '../nn/index.js';

export type { ShardLoss, ShardProducts };

/** The weights to compute at: `id` changes whenever the values do (a version or a hash). */
export interface ThetaRef {
  id: string;
  data: Float32Array;
}

/** Everything that fixes one shard's curvature, apart from the vectors; objective fields beyond BN mode and loss ride along. */
export interface ShardTask extends ObjectiveOptions {
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

function checkShard(dataset: AnyDataset, shard: ShardRange): void {
  if (shard.start < 0 || shard.end > dataset.length || shard.start >= shard.end) {
    throw new OptionError(`shard [${shard.start}, ${shard.end}) is not inside dataset ${dataset.name} of ${dataset.length} samples`);
  }
}

/** The task's objective (what its primal passes depend on besides the data), checked. */
function objectiveOf(task: Omit<ShardTask, 'kind' | 'maxBlock'>) {
  const { modelHash: _m, datasetKey: _d, normalize: _n, shard: _s, batchSize: _b, kind: _k, maxBlock: _x, ...objective } = task as ShardTask;
  return resolveObjective(objective);
}

/**
 * One compute place of a worker (a worker thread, each thread of a cluster worker): the models it
 * has loaded, by hash, and the primal passes of the shards it has seen, kept while they fit
 * `cacheBytes` and while the weights are unchanged. The products themselves are curvature/'s
 * shardProductSums, the code every place computes with.
 */
export class ShardWorkspace {
  private readonly models = new Map<string, { model: Model; thetaId: string | null }>();
  private readonly cache: PrimalCache;

  constructor(
    cacheBytes: number,
    private readonly maxModels = 2,
  ) {
    this.cache = new PrimalCache(cacheBytes);
  }

  get stats(): { primalPasses: number; cachedPasses: number } {
    return this.cache.stats;
  }

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
    return this.cache.bytes;
  }

  private dropModel(hash: string): void {
    this.models.delete(hash);
    this.dropPasses(hash);
  }

  private dropPasses(modelHash: string): void {
    this.cache.drop((key) => key.startsWith(`${modelHash}|`));
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
      this.dropPasses(hash);
    }
    return m.model;
  }

  /** Products of the shard's curvature with `vs`, summed over its batches weighted by batch size. */
  product(dataset: AnyDataset, task: ShardTask, theta: ThetaRef, vs: readonly Float32Array[]): ShardProducts {
    checkShard(dataset, task.shard);
    const objective = objectiveOf(task);
    const model = this.useTheta(task.modelHash, theta);
    const key = `${task.modelHash}|${JSON.stringify([task.datasetKey, task.normalize, task.batchSize, task.shard.start, task.shard.end, objective])}`;
    const batches = shardBatches(dataset, task.shard, task.batchSize, task.normalize);
    return shardProductSums(model, batches, { kind: task.kind, maxBlock: task.maxBlock, objective }, vs, this.cache, key);
  }

  /** Loss and correct predictions over the shard at `theta` (a forward pass per batch, nothing cached). */
  evaluate(dataset: AnyDataset, task: Omit<ShardTask, 'kind' | 'maxBlock'>, theta: Float32Array): ShardLoss {
    checkShard(dataset, task.shard);
    const model = this.entry(task.modelHash).model;
    return shardLossSums(model, shardBatches(dataset, task.shard, task.batchSize, task.normalize), objectiveOf(task), theta);
  }
}
