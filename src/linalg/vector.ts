/**
 * Vector helpers for flat vectors. Every reduction accumulates in float64 whatever the storage
 * type, because sums over hundreds of thousands of float32 terms lose digits the algorithms need.
 */
import { gramSchmidtAny, kernels } from '../kernels/index.js';

export type Vec = Float32Array | Float64Array;

export function dot(a: Vec, b: Vec): number {
  if (a.length !== b.length) throw new RangeError(`dot of vectors of lengths ${a.length} and ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function norm(a: Vec): number {
  // Scaled so that vectors with entries near the float64 limits neither overflow nor underflow.
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Math.abs(a[i]!);
    if (x > maxAbs) maxAbs = x;
  }
  if (maxAbs === 0 || !Number.isFinite(maxAbs)) return maxAbs;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! / maxAbs;
    s += x * x;
  }
  return maxAbs * Math.sqrt(s);
}

/** y += alpha * x, in place; returns y. */
export function axpy<T extends Vec>(alpha: number, x: Vec, y: T): T {
  if (x.length !== y.length) throw new RangeError(`axpy of vectors of lengths ${x.length} and ${y.length}`);
  for (let i = 0; i < y.length; i++) y[i] = y[i]! + alpha * x[i]!;
  return y;
}

/** x *= alpha, in place; returns x. */
export function scale<T extends Vec>(alpha: number, x: T): T {
  for (let i = 0; i < x.length; i++) x[i] = x[i]! * alpha;
  return x;
}

/** Scales v to unit length in place and returns its former norm (0 leaves v untouched). */
export function normalize(v: Vec): number {
  const n = norm(v);
  if (n > 0) scale(1 / n, v);
  return n;
}

/**
 * Removes from v, in place, its components along the vectors of `basis` (assumed orthonormal) by
 * classical Gram-Schmidt applied `passes` times ("twice is enough": one pass leaves errors of
 * order eps * condition, the second brings them to eps). The update runs in a float64 copy so a
 * float32 v is rounded once, not once per basis vector. Returns the summed coefficients, the
 * projections <basis_j, v> of the original v. Float32 vectors go to the kernels (the native ones
 * where built: the same bits, several times faster); float64 ones to the plain loop.
 */
export function orthogonalize(v: Vec, basis: readonly Vec[], passes = 2): Float64Array {
  const coeffs = new Float64Array(basis.length);
  if (v instanceof Float32Array && basis.every((b): b is Float32Array => b instanceof Float32Array)) kernels().gramSchmidt(v, basis, passes, coeffs);
  else gramSchmidtAny(v, basis, passes, coeffs);
  return coeffs;
}

/** sum_j coeffs[j] * vs[j] as a new float32 vector, accumulated in float64. */
export function combine(vs: readonly Vec[], coeffs: ArrayLike<number>, size: number): Float32Array {
  const acc = new Float64Array(size);
  for (let j = 0; j < vs.length; j++) {
    const c = coeffs[j]!;
    if (c === 0) continue;
    const v = vs[j]!;
    for (let i = 0; i < size; i++) acc[i] = acc[i]! + c * v[i]!;
  }
  return Float32Array.from(acc);
}
