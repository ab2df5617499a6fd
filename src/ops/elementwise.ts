import { sizeOf, type Shape } from '../tensor/index.js';
import { broadcastShape, forEachRow } from './broadcast.js';

/**
 * Array-level loops (not differentiable) that the primitives' forward and jvp rules are built
 * from. `accumulate` adds into `out` instead of overwriting it.
 */
export type BinaryKind = 'add' | 'sub' | 'mul' | 'div';

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
  forEachRow(outShape, [aShape, bShape], (off, st, n) => {
    let o = off[0]!, ia = off[1]!, ib = off[2]!;
    const sa = st[1]!, sb = st[2]!;
    if (accumulate) {
      switch (kind) {
        case 'add': for (let i = 0; i < n; i++, o++, ia += sa, ib += sb) out[o] += a[ia]! + b[ib]!; break;
        case 'sub': for (let i = 0; i < n; i++, o++, ia += sa, ib += sb) out[o] += a[ia]! - b[ib]!; break;
        case 'mul': for (let i = 0; i < n; i++, o++, ia += sa, ib += sb) out[o] += a[ia]! * b[ib]!; break;
        case 'div': for (let i = 0; i < n; i++, o++, ia += sa, ib += sb) out[o] += a[ia]! / b[ib]!; break;
      }
    } else {
      switch (kind) {
        case 'add': for (let i = 0; i < n; i++, o++, ia += sa, ib += sb) out[o] = a[ia]! + b[ib]!; break;
        case 'sub': for (let i = 0; i < n; i++, o++, ia += sa, ib += sb) out[o] = a[ia]! - b[ib]!; break;
        case 'mul': for (let i = 0; i < n; i++, o++, ia += sa, ib += sb) out[o] = a[ia]! * b[ib]!; break;
        case 'div': for (let i = 0; i < n; i++, o++, ia += sa, ib += sb) out[o] = a[ia]! / b[ib]!; break;
      }
    }
  });
}

export function binary(kind: BinaryKind, a: Float32Array, aShape: Shape, b: Float32Array, bShape: Shape): { data: Float32Array; shape: number[] } {
  const shape = broadcastShape(aShape, bShape);
  const data = new Float32Array(sizeOf(shape));
  binaryInto(kind, a, aShape, b, bShape, data, shape);
  return { data, shape };
}

/** out (outShape) = x broadcast to outShape; with `accumulate`, out += that. */
export function broadcastInto(x: Float32Array, xShape: Shape, out: Float32Array, outShape: Shape, accumulate = false): void {
  forEachRow(outShape, [xShape], (off, st, n) => {
    let o = off[0]!, ix = off[1]!;
    const sx = st[1]!;
    if (accumulate) for (let i = 0; i < n; i++, o++, ix += sx) out[o] += x[ix]!;
    else for (let i = 0; i < n; i++, o++, ix += sx) out[o] = x[ix]!;
  });
}

/** Sums x (xShape) down to outShape, which must broadcast to xShape. Accumulates in float64. */
export function sumToInto(x: Float32Array, xShape: Shape, out: Float32Array, outShape: Shape): void {
  const acc = new Float64Array(out.length);
  forEachRow(xShape, [outShape], (off, st, n) => {
    let ix = off[0]!, o = off[1]!;
    const so = st[1]!;
    if (so === 0) {
      let s = 0;
      for (let i = 0; i < n; i++, ix++) s += x[ix]!;
      acc[o] += s;
    } else {
      for (let i = 0; i < n; i++, ix++, o += so) acc[o] += x[ix]!;
    }
  });
  for (let i = 0; i < out.length; i++) out[i] = acc[i]!;
}

export function scaleInto(x: Float32Array, c: number, out: Float32Array, accumulate = false): void {
  if (accumulate) for (let i = 0; i < x.length; i++) out[i] += c * x[i]!;
  else for (let i = 0; i < x.length; i++) out[i] = c * x[i]!;
}

export function addInto(a: Float32Array, b: Float32Array, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
}
