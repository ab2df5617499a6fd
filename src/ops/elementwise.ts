import { sizeOf, type Shape } from '../tensor/index.js';
import { Elementwise, kernels, Muladd } from '../kernels/index.js';
import { broadcastShape, geometry } from './broadcast.js';

/**
 * Array-level loops (not differentiable) that the primitives' forward and jvp rules are built
 * from. `accumulate` adds into `out` instead of overwriting it.
 */
export type BinaryKind = 'add' | 'sub' | 'mul' | 'div';

const KIND: Record<BinaryKind, Elementwise> = { add: Elementwise.Add, sub: Elementwise.Sub, mul: Elementwise.Mul, div: Elementwise.Div };

export function binaryInto(
  kind: BinaryKind,
  a: Float32Array,
  aShape: Shape,
  b: Float32Array,
  bShape: Shape,
  out: Float32Array,
  outShape: Shape,
  accumulate = false,
): void {
  if (sizeOf(outShape) === 0) return;
  kernels().binary(KIND[kind], a, b, out, geometry(outShape, [aShape, bShape]), accumulate);
}

/** out (outShape) = x broadcast to outShape; with `accumulate`, out += that. */
export function broadcastInto(x: Float32Array, xShape: Shape, out: Float32Array, outShape: Shape, accumulate = false): void {
  if (sizeOf(outShape) === 0) return;
  kernels().binary(Elementwise.Copy, x, null, out, geometry(outShape, [xShape, xShape]), accumulate);
}

/** Sums x (xShape) down to outShape, which must broadcast to xShape. Accumulates in float64. */
export function sumToInto(x: Float32Array, xShape: Shape, out: Float32Array, outShape: Shape): void {
  if (sizeOf(xShape) === 0) {
    out.fill(0);
    return;
  }
  kernels().reduce(x, null, out, geometry(xShape, [xShape, xShape, outShape]));
}

/** out = Σ a·b over the broadcast `full` iteration, summed down to outShape (float64 sums; overwrites out). */
export function mulSumToInto(a: Float32Array, aShape: Shape, b: Float32Array, bShape: Shape, full: Shape, out: Float32Array, outShape: Shape): void {
  if (sizeOf(full) === 0) {
    out.fill(0);
    return;
  }
  kernels().reduce(a, b, out, geometry(full, [aShape, bShape, outShape]));
}

/** An operand of muladdInto: its data and the shape it broadcasts from. */
export interface Operand {
  data: Float32Array;
  shape: Shape;
}

export const operand = (data: Float32Array, shape: Shape): Operand => ({ data, shape });

/**
 * out (outShape) = a·b + c·d + e, each broadcast to outShape, in one pass (c·d and e optional);
 * `mode` 'accumulate' adds into out, 'relu' writes max(that, 0) (the bits of a Max pass after it),
 * and an Operand as the mode writes it where that operand is > 0 and +0 elsewhere (the bits of a
 * Gate pass after it: ReLU's tangent).
 */
export function muladdInto(
  a: Operand,
  b: Operand,
  cd: [Operand, Operand] | null,
  e: Operand | null,
  out: Float32Array,
  outShape: Shape,
  mode: 'set' | 'accumulate' | 'relu' | Operand = 'set',
): void {
  if (sizeOf(outShape) === 0) return;
  const mask = typeof mode === 'string' ? null : mode;
  const shapes = [a.shape, b.shape, cd ? cd[0].shape : outShape, cd ? cd[1].shape : outShape, e ? e.shape : outShape, ...(mask ? [mask.shape] : [])];
  const kind = mask ? Muladd.Gate : mode === 'accumulate' ? Muladd.Add : mode === 'relu' ? Muladd.Relu : Muladd.Set;
  kernels().muladd(a.data, b.data, cd ? cd[0].data : null, cd ? cd[1].data : null, e ? e.data : null, out, geometry(outShape, shapes), kind, mask?.data ?? null);
}

const scalar = new Float32Array(1);

/** out = c·x (or out += c·x), x and out of the same length. */
export function scaleInto(x: Float32Array, c: number, out: Float32Array, accumulate = false): void {
  if (x.length === 0) return;
  scalar[0] = c;
  kernels().binary(Elementwise.Mul, x, scalar, out, Float64Array.of(1, x.length, 1, 0), accumulate);
}

/**
 * out[j, i] = slope[i] · t[j, i] for each of the k tangents of a block: the jvp of every
 * elementwise function (slope is its derivative at the primal values).
 */
export function scaleRowsInto(t: Float32Array, slope: Float32Array, k: number, out: Float32Array): void {
  const n = slope.length;
  if (n === 0 || k === 0) return;
  kernels().binary(Elementwise.Mul, t, slope, out, Float64Array.of(2, k, n, n, 1, 0, 1), false);
}

const zero = new Float32Array(1);

/** max(x, 0) or [x > 0] over a whole array, in the kernels (vectorised, branch-free): ReLU and its mask. */
export function compareWithZeroInto(kind: typeof Elementwise.Max | typeof Elementwise.Greater, x: Float32Array, out: Float32Array): void {
  if (x.length > 0) kernels().binary(kind, x, zero, out, Float64Array.of(1, x.length, 1, 0), false);
}

/** out[j, i] = t[j, i] where y[i] > 0, else +0, for the k rows of a block: ReLU's gate, the mask read from y. */
export function gateRowsInto(t: Float32Array, y: Float32Array, k: number, out: Float32Array): void {
  const n = y.length;
  if (n > 0 && k > 0) kernels().binary(Elementwise.Gate, t, y, out, Float64Array.of(2, k, n, n, 1, 0, 1), false);
}
