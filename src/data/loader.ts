/**
 * Mini-batches over a dataset. Every random choice of an epoch follows from (seed, epoch): the
 * order from one generator, and each image's crop and flip from a generator keyed by its dataset
 * index, so resuming at epoch e, fetching batch b alone, or splitting a batch across workers all
 * give the same pixels.
 */
import { OptionError } from '../errors.js';
import { Rng } from '../tensor/index.js';
import { randomCropFlipInPlace } from './augment.js';
import type { Dataset, LabeledImages } from './dataset.js';
import { checkNormalization, normalizeInPlace, type Normalization } from './normalize.js';

export interface Batch extends LabeledImages {
  /** Dataset indices of the samples, in batch order. */
  indices: Uint32Array;
}

export interface LoaderOptions {
  batchSize: number;
  /** Reshuffle every epoch (default true). */
  shuffle?: boolean;
  seed?: number;
  /** Drop the last, smaller batch (default false). */
  dropLast?: boolean;
  /** Per-channel normalisation after augmentation, e.g. CIFAR10_NORMALIZATION; null or absent: raw [0, 1] pixels. */
  normalize?: Normalization | null;
  /** Random crop (padding 4) and horizontal flip (default false). */
  augment?: boolean;
}

interface EpochRandomness {
  epoch: number;
  order: Uint32Array;
  augmentSeed: number;
}

export class DataLoader implements Iterable<Batch> {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly normalize: Normalization | null;
  readonly augment: boolean;
  private nextEpoch = 0;
  /** The last epoch's order, so fetching its batches one by one does not reshuffle each time. */
  private cached: EpochRandomness | null = null;

  constructor(dataset: Dataset, options: LoaderOptions) {
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize <= 0) throw new OptionError(`batch size must be a positive integer, got ${batchSize}`);
    const seed = options.seed ?? 0;
    if (!Number.isFinite(seed)) throw new OptionError(`seed must be a number, got ${seed}`);
    if (options.normalize) checkNormalization(options.normalize, dataset.channels);
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? true;
    this.seed = seed;
    this.dropLast = options.dropLast ?? false;
    this.normalize = options.normalize ?? null;
    this.augment = options.augment ?? false;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  private epochRandomness(epoch: number): EpochRandomness {
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0x7fffffff) throw new OptionError(`epoch must be a non-negative integer, got ${epoch}`);
    if (this.cached?.epoch === epoch) return this.cached;
    const rng = new Rng(this.seed, epoch);
    const augmentSeed = rng.nextUint32() * 0x200000 + (rng.nextUint32() >>> 11);
    const n = this.dataset.length;
    const order = this.shuffle ? rng.permutation(n) : Uint32Array.from({ length: n }, (_, i) => i);
    this.cached = { epoch, order, augmentSeed };
    return this.cached;
  }

  /** The order in which epoch `epoch` visits the dataset. */
  order(epoch: number): Uint32Array {
    return this.epochRandomness(epoch).order.slice();
  }

  private assemble(indices: Uint32Array, augmentSeed: number): Batch {
    const { x, y } = this.dataset.get(indices);
    if (this.augment) randomCropFlipInPlace(x, (b) => new Rng(augmentSeed, indices[b]!));
    if (this.normalize) normalizeInPlace(x, this.normalize);
    return { x, y, indices };
  }

  /** Batch `b` of epoch `epoch` on its own (for resuming mid-epoch or handing batches to workers). */
  batch(epoch: number, b: number): Batch {
    if (!Number.isInteger(b) || b < 0 || b >= this.length) throw new OptionError(`batch ${b} is outside 0..${this.length - 1} of this epoch`);
    const { order, augmentSeed } = this.epochRandomness(epoch);
    return this.assemble(order.slice(b * this.batchSize, (b + 1) * this.batchSize), augmentSeed);
  }

  /** The batches of epoch `e`, the same for the same (seed, e). */
  *epoch(e: number): Generator<Batch> {
    const { order, augmentSeed } = this.epochRandomness(e);
    for (let b = 0; b < this.length; b++) {
      yield this.assemble(order.slice(b * this.batchSize, (b + 1) * this.batchSize), augmentSeed);
    }
  }

  /** Iterating the loader itself runs epochs 0, 1, 2, ... in turn, like a PyTorch DataLoader reshuffling each pass. */
  [Symbol.iterator](): Iterator<Batch> {
    return this.epoch(this.nextEpoch++);
  }
}

/** The first `n` samples, unaugmented, as one batch: the batch PyHessian analyses. */
export function hessianBatch(dataset: Dataset, n: number, normalize: Normalization | null = null): Batch {
  if (!Number.isInteger(n) || n <= 0 || n > dataset.length) {
    throw new OptionError(`the Hessian batch size must be an integer in 1..${dataset.length} (the size of ${dataset.name}), got ${n}`);
  }
  const indices = Uint32Array.from({ length: n }, (_, i) => i);
  const { x, y } = dataset.get(indices);
  if (normalize) normalizeInPlace(x, normalize);
  return { x, y, indices };
}
