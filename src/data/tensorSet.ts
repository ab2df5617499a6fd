import { OptionError, ShapeError } from '../errors.js';
import type { Batch } from '../nn/index.js';
import { Tensor } from '../tensor/index.js';
import type { DatasetSpec } from './spec.js';

/** How to load a tensor set again (a worker's shard): the file and, optionally, samples [start, end). */
export type TensorSetSpec = Extract<DatasetSpec, { kind: 'tensors' }>;

export interface TensorSetInit {
  name: string;
  /** N·prod(sampleShape) values, row-major; integer ids are held exactly in float32 */
  x: Float32Array;
  sampleShape: readonly number[];
  xKind: 'float' | 'int';
  /** N·prod(targetShape) targets: integer labels (−100 and other negatives allowed, for an ignore index) or float targets */
  y: Int32Array | Float32Array;
  /** one target's shape: [] for one label or value per sample, [T] for token labels */
  targetShape: readonly number[];
  spec?: TensorSetSpec;
}

const product = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/**
 * Samples of any shape with targets of any shape: token sequences with token or sequence labels,
 * feature vectors with regression targets. Images with class labels stay an ImageDataset; this is
 * the set for everything else, and it hands out the engine's batches directly.
 */
export class TensorSet {
  readonly name: string;
  readonly length: number;
  readonly sampleShape: readonly number[];
  readonly targetShape: readonly number[];
  readonly xKind: 'float' | 'int';
  readonly spec?: TensorSetSpec;
  private readonly x: Float32Array;
  private readonly y: Int32Array | Float32Array;

  constructor(init: TensorSetInit) {
    const per = product(init.sampleShape), perY = product(init.targetShape);
    if (per === 0) throw new ShapeError(`dataset ${init.name}: empty samples of shape [${init.sampleShape.join(', ')}]`);
    const n = init.x.length / per;
    if (!Number.isInteger(n) || init.y.length !== n * Math.max(perY, 0)) {
      throw new ShapeError(`dataset ${init.name}: ${init.x.length} input values of [${init.sampleShape.join(', ')}] and ${init.y.length} targets of [${init.targetShape.join(', ')}] are not the same number of samples`);
    }
    this.name = init.name;
    this.length = n;
    this.sampleShape = [...init.sampleShape];
    this.targetShape = [...init.targetShape];
    this.xKind = init.xKind;
    this.x = init.x;
    this.y = init.y;
    if (init.spec) this.spec = init.spec;
  }

  /** What the targets are: integer labels (class or token labels) or float values (regression). */
  get targetKind(): 'int' | 'float' {
    return this.y instanceof Int32Array ? 'int' : 'float';
  }

  /** Every target, sample after sample (a view: do not modify). */
  targets(): Int32Array | Float32Array {
    return this.y;
  }

  /** The samples at `indices`, in that order, as one batch. */
  get(indices: ArrayLike<number>): Batch {
    const n = indices.length;
    const per = product(this.sampleShape), perY = product(this.targetShape);
    const x = new Float32Array(n * per);
    const y = this.y instanceof Int32Array ? new Int32Array(n * perY) : new Float32Array(n * perY);
    for (let b = 0; b < n; b++) {
      const i = indices[b]!;
      if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new OptionError(`dataset ${this.name}: index ${i} is outside 0..${this.length - 1}`);
      x.set(this.x.subarray(i * per, (i + 1) * per), b * per);
      y.set(this.y.subarray(i * perY, (i + 1) * perY), b * perY);
    }
    const batch: Batch = { x: new Tensor([n, ...this.sampleShape], x), y, xKind: this.xKind };
    if (this.targetShape.length > 0 || y instanceof Float32Array) batch.yShape = [n, ...this.targetShape];
    return batch;
  }

  /** The first `n` samples as one batch: the batch a Hessian is computed on. */
  first(n: number): Batch {
    if (!Number.isInteger(n) || n <= 0 || n > this.length) {
      throw new OptionError(`the Hessian batch size must be an integer in 1..${this.length} (the size of ${this.name}), got ${n}`);
    }
    return this.get(Uint32Array.from({ length: n }, (_, i) => i));
  }

  /** Every sample once, in order, in batches of `batchSize` (the last may be smaller): a BatchSource for full-dataset operators. */
  batches(batchSize: number): { batches(): Iterable<Batch> } {
    if (!Number.isInteger(batchSize) || batchSize <= 0) throw new OptionError(`batch size must be a positive integer, got ${batchSize}`);
    const set = this;
    return {
      *batches() {
        for (let s = 0; s < set.length; s += batchSize) yield set.get(Uint32Array.from({ length: Math.min(batchSize, set.length - s) }, (_, i) => s + i));
      },
    };
  }

  /** Samples start..end-1, sharing this set's memory (a shard). */
  subset(start: number, end: number): TensorSet {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > this.length || start > end) {
      throw new OptionError(`dataset ${this.name}: subset [${start}, ${end}) is not a range inside 0..${this.length}`);
    }
    const per = product(this.sampleShape), perY = product(this.targetShape);
    const base = this.spec?.range?.[0] ?? 0;
    return new TensorSet({
      name: `${this.name}[${start}:${end}]`,
      x: this.x.subarray(start * per, end * per),
      sampleShape: this.sampleShape,
      xKind: this.xKind,
      y: this.y.subarray(start * perY, end * perY),
      targetShape: this.targetShape,
      ...(this.spec ? { spec: { ...this.spec, range: [base + start, base + end] as [number, number] } } : {}),
    });
  }
}
