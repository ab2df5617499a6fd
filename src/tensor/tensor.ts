import { ShapeError } from '../errors.js';

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`invalid dimension ${d} in shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

export function shapeEquals(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function assertShape(what: string, actual: Shape, expected: Shape): void {
  if (!shapeEquals(actual, expected)) {
    throw new ShapeError(`${what}: expected shape ${formatShape(expected)}, got ${formatShape(actual)}`);
  }
}

/** A dense float32 array with a row-major shape (images are NCHW). Data may be a view. */
export class Tensor {
  readonly shape: Shape;
  readonly data: Float32Array;

  constructor(shape: Shape, data?: Float32Array) {
    const n = sizeOf(shape);
    if (data && data.length !== n) {
      throw new ShapeError(`tensor of shape ${formatShape(shape)} needs ${n} values, got ${data.length}`);
    }
    this.shape = Object.freeze([...shape]);
    this.data = data ?? new Float32Array(n);
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  static zeros(shape: Shape): Tensor {
    return new Tensor(shape);
  }

  static from(shape: Shape, values: ArrayLike<number>): Tensor {
    return new Tensor(shape, Float32Array.from(values));
  }

  static scalar(value: number): Tensor {
    return new Tensor([], Float32Array.of(value));
  }

  /** Same data, new shape (no copy). */
  reshape(shape: Shape): Tensor {
    if (sizeOf(shape) !== this.size) {
      throw new ShapeError(`cannot reshape ${formatShape(this.shape)} (${this.size} values) to ${formatShape(shape)}`);
    }
    return new Tensor(shape, this.data);
  }

  clone(): Tensor {
    return new Tensor(this.shape, this.data.slice());
  }

  item(): number {
    if (this.size !== 1) throw new ShapeError(`item() needs a tensor of one value, got shape ${formatShape(this.shape)}`);
    return this.data[0]!;
  }
}
