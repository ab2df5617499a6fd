import { OptionError, ShapeError } from '../errors.js';
import { Tensor } from '../tensor/index.js';
import type { DatasetSpec } from './spec.js';
import type { TensorSet } from './tensorSet.js';

/** Images (N, C, H, W) in float32 and their class labels. */
export interface LabeledImages {
  x: Tensor;
  y: Int32Array;
}

/** A labelled image classification set held in memory. */
export interface Dataset {
  readonly name: string;
  readonly length: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly classes: number;
  readonly classNames?: readonly string[];
  /** How to load this very dataset again (in a worker, say); absent for sets built in memory. */
  readonly spec?: DatasetSpec;
  /** The samples at `indices`, in that order: pixels in [0, 1] for 8-bit sources, as stored for float ones. */
  get(indices: ArrayLike<number>): LabeledImages;
  /** Samples start..end-1 as a dataset sharing this one's memory (a shard). */
  subset(start: number, end: number): Dataset;
  /** The label of every sample, in order (a view: do not modify). */
  labels(): Int32Array;
}

/**
 * Any data hesse computes curvature on: labelled images, or a tensor set (token sequences,
 * features, float targets). The curvature road reads only what both have: name, length, spec,
 * samples by index as batches, and shards.
 */
export type AnyDataset = Dataset | TensorSet;

export interface ImageDatasetInit {
  name: string;
  /** N*C*H*W values, NCHW. 8-bit pixels stay 8-bit in memory and are scaled by 1/255 per batch. */
  pixels: Uint8Array | Float32Array;
  labels: Int32Array;
  channels: number;
  height: number;
  width: number;
  classes: number;
  classNames?: readonly string[];
  spec?: DatasetSpec;
}

const INV_255 = 1 / 255;

/**
 * The most classes a dataset may have. Per-class tables (counts, a model's output layer) scale
 * with it, and a label such as 2147483647 in a corrupt file would otherwise ask for gigabytes;
 * a million is far beyond any image classification set (ImageNet-21k has 21,841).
 */
export const MAX_CLASSES = 1_000_000;

export class ImageDataset implements Dataset {
  readonly name: string;
  readonly length: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly classes: number;
  readonly classNames?: readonly string[];
  readonly spec?: DatasetSpec;
  readonly pixels: Uint8Array | Float32Array;
  private readonly labelArray: Int32Array;

  constructor(init: ImageDatasetInit) {
    const { pixels, labels, channels, height, width, classes } = init;
    for (const [k, v] of Object.entries({ channels, height, width, classes })) {
      if (!Number.isInteger(v) || v <= 0) throw new OptionError(`dataset ${init.name}: ${k} must be a positive integer, got ${v}`);
    }
    if (classes > MAX_CLASSES) {
      throw new OptionError(`dataset ${init.name}: ${classes.toLocaleString('en-US')} classes are more than the ${MAX_CLASSES.toLocaleString('en-US')} hesse accepts; check the labels`);
    }
    const per = channels * height * width;
    if (pixels.length !== labels.length * per) {
      throw new ShapeError(
        `dataset ${init.name}: ${labels.length} labels need ${labels.length * per} pixel values of ${channels}x${height}x${width}, got ${pixels.length}`,
      );
    }
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i]!;
      if (l < 0 || l >= classes) throw new OptionError(`dataset ${init.name}: label ${l} of sample ${i} is outside 0..${classes - 1}`);
    }
    if (init.classNames && init.classNames.length !== classes) {
      throw new OptionError(`dataset ${init.name}: ${init.classNames.length} class names for ${classes} classes`);
    }
    this.name = init.name;
    this.pixels = pixels;
    this.labelArray = labels;
    this.length = labels.length;
    this.channels = channels;
    this.height = height;
    this.width = width;
    this.classes = classes;
    if (init.classNames) this.classNames = init.classNames;
    if (init.spec) this.spec = init.spec;
  }

  get sampleSize(): number {
    return this.channels * this.height * this.width;
  }

  labels(): Int32Array {
    return this.labelArray;
  }

  get(indices: ArrayLike<number>): LabeledImages {
    const n = indices.length;
    const per = this.sampleSize;
    const x = new Float32Array(n * per);
    const y = new Int32Array(n);
    const src = this.pixels;
    for (let b = 0; b < n; b++) {
      const i = indices[b]!;
      if (!Number.isInteger(i) || i < 0 || i >= this.length) {
        throw new OptionError(`dataset ${this.name}: index ${i} is outside 0..${this.length - 1}`);
      }
      y[b] = this.labelArray[i]!;
      const from = i * per;
      const to = b * per;
      if (src instanceof Uint8Array) {
        for (let k = 0; k < per; k++) x[to + k] = src[from + k]! * INV_255;
      } else {
        x.set(src.subarray(from, from + per), to);
      }
    }
    return { x: new Tensor([n, this.channels, this.height, this.width], x), y };
  }

  subset(start: number, end: number): ImageDataset {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > this.length || start > end) {
      throw new OptionError(`dataset ${this.name}: subset [${start}, ${end}) is not a range inside 0..${this.length}`);
    }
    const per = this.sampleSize;
    const base = this.spec?.range?.[0] ?? 0;
    return new ImageDataset({
      name: `${this.name}[${start}:${end}]`,
      pixels: this.pixels.subarray(start * per, end * per),
      labels: this.labelArray.subarray(start, end),
      channels: this.channels,
      height: this.height,
      width: this.width,
      classes: this.classes,
      ...(this.classNames ? { classNames: this.classNames } : {}),
      ...(this.spec ? { spec: { ...this.spec, range: [base + start, base + end] as [number, number] } } : {}),
    });
  }
}

/** Count of samples per class. */
export function classCounts(dataset: Dataset): Int32Array {
  const counts = new Int32Array(dataset.classes);
  for (const l of dataset.labels()) counts[l]!++;
  return counts;
}
