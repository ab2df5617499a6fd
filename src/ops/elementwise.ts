import { sizeOf, type Shape } from '../tensor/index.js';
import { broadcastShape, forEachRow } from './broadcast.js';

/**
 * Array-level loops (not differentiable) that the primitives' forward and jvp rules are built
 * from. `accumulate` adds into `out` instead of overwriting it.
 */
export type BinaryKind = 'add' | 'sub' | 'mul' | 'div';

/**
 * The inner loops, one small function per case so each stays monomorphic and branch-free: both
 * operands walking (stride 1), or one of them fixed for the whole row (stride 0, a broadcast).
 */
function rowBoth(kind: BinaryKind, a: Float32Array, ia: number, b: Float32Array, ib: number, out: Float32Array, o: number, n: number, acc: boolean): void {
  const end = o + n;
  if (acc) {
    if (kind === 'add') for (; o < end; o++, ia++, ib++) out[o] += a[ia]! + b[ib]!;
    else if (kind === 'sub') for (; o < end; o++, ia++, ib++) out[o] += a[ia]! - b[ib]!;
    else if (kind === 'mul') for (; o < end; o++, ia++, ib++) out[o] += a[ia]! * b[ib]!;
    else for (; o < end; o++, ia++, ib++) out[o] += a[ia]! / b[ib]!;
  } else {
    if (kind === 'add') for (; o < end; o++, ia++, ib++) out[o] = a[ia]! + b[ib]!;
    else if (kind === 'sub') for (; o < end; o++, ia++, ib++) out[o] = a[ia]! - b[ib]!;
    else if (kind === 'mul') for (; o < end; o++, ia++, ib++) out[o] = a[ia]! * b[ib]!;
    else for (; o < end; o++, ia++, ib++) out[o] = a[ia]! / b[ib]!;
  }
}

/** a walks, b is the constant `bv` for the row. */
function rowScalarB(kind: BinaryKind, a: Float32Array, ia: number, bv: number, out: Float32Array, o: number, n: number, acc: boolean): void {
  const end = o + n;
  if (acc) {
    if (kind === 'add') for (; o < end; o++, ia++) out[o] += a[ia]! + bv;
    else if (kind === 'sub') for (; o < end; o++, ia++) out[o] += a[ia]! - bv;
    else if (kind === 'mul') for (; o < end; o++, ia++) out[o] += a[ia]! * bv;
    else for (; o < end; o++, ia++) out[o] += a[ia]! / bv;
  } else {
    if (kind === 'add') for (; o < end; o++, ia++) out[o] = a[ia]! + bv;
    else if (kind === 'sub') for (; o < end; o++, ia++) out[o] = a[ia]! - bv;
    else if (kind === 'mul') for (; o < end; o++, ia++) out[o] = a[ia]! * bv;
    else for (; o < end; o++, ia++) out[o] = a[ia]! / bv;
  }
}

/** a is the constant `av` for the row, b walks. */
function rowScalarA(kind: BinaryKind, av: number, b: Float32Array, ib: number, out: Float32Array, o: number, n: number, acc: boolean): void {
  const end = o + n;
  if (acc) {
    if (kind === 'add') for (; o < end; o++, ib++) out[o] += av + b[ib]!;
    else if (kind === 'sub') for (; o < end; o++, ib++) out[o] += av - b[ib]!;
    else if (kind === 'mul') for (; o < end; o++, ib++) out[o] += av * b[ib]!;
    else for (; o < end; o++, ib++) out[o] += av / b[ib]!;
  } else {
    if (kind === 'add') for (; o < end; o++, ib++) out[o] = av + b[ib]!;
    else if (kind === 'sub') for (; o < end; o++, ib++) out[o] = av - b[ib]!;
    else if (kind === 'mul') for (; o < end; o++, ib++) out[o] = av * b[ib]!;
    else for (; o < end; o++, ib++) out[o] = av / b[ib]!;
  }
}

/** Any other stride pattern (rare: a broadcast along the innermost dimension of a walking row). */
function rowStrided(kind: BinaryKind, a: Float32Array, ia: number, sa: number, b: Float32Array, ib: number, sb: number, out: Float32Array, o: number, n: number, acc: boolean): void {
  for (let i = 0; i < n; i++, o++, ia += sa, ib += sb) {
    const x = a[ia]!, y = b[ib]!;
    const r = kind === 'add' ? x + y : kind === 'sub' ? x - y : kind === 'mul' ? x * y : x / y;
    out[o] = acc ? out[o]! + r : r;
  }
}

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
    const sa = st[1]!, sb = st[2]!;
    if (sa === 1 && sb === 1) rowBoth(kind, a, off[1]!, b, off[2]!, out, off[0]!, n, accumulate);
    else if (sa === 1 && sb === 0) rowScalarB(kind, a, off[1]!, b[off[2]!]!, out, off[0]!, n, accumulate);
    else if (sa === 0 && sb === 1) rowScalarA(kind, a[off[1]!]!, b, off[2]!, out, off[0]!, n, accumulate);
    else rowStrided(kind, a, off[1]!, sa, b, off[2]!, sb, out, off[0]!, n, accumulate);
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
