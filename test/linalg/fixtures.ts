/** Float64 oracles on dense row-major matrices, independent of the code under test. */
export function exactTrace(a: Float64Array, n: number): number {
  let t = 0;
  for (let i = 0; i < n; i++) t += a[i * n + i]!;
  return t;
}

export function diagonalOf(a: Float64Array, n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => a[i * n + i]!);
}

export function frobeniusSquared(a: Float64Array): number {
  let s = 0;
  for (const x of a) s += x * x;
  return s;
}

export function square(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      for (let j = 0; j < n; j++) out[i * n + j] = out[i * n + j]! + aik * a[k * n + j]!;
    }
  return out;
}

export function matvec64(a: Float64Array, n: number, v: ArrayLike<number>): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += a[i * n + j]! * v[j]!;
    y[i] = s;
  }
  return y;
}

export function dot64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** ||P v|| / ||v|| where P projects onto the span of the orthonormal `basis`: 1 when v lies in it. */
export function fractionInSpan(v: ArrayLike<number>, basis: ArrayLike<number>[]): number {
  let inSpan = 0;
  for (const u of basis) inSpan += dot64(u, v) ** 2;
  return Math.sqrt(inSpan / dot64(v, v));
}

/** The variance of vᵀAv for Rademacher probes: 2 (||A||_F² - Σ a_ii²). */
export function rademacherQuadraticVariance(a: Float64Array, n: number): number {
  let off = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) off += a[i * n + j]! ** 2;
  return 2 * off;
}

export function linspace(lo: number, hi: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => (count === 1 ? lo : lo + ((hi - lo) * i) / (count - 1)));
}

export function meanOf(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return s / xs.length;
}

export function sampleVariance(xs: ArrayLike<number>): number {
  const m = meanOf(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i]! - m) ** 2;
  return s / (xs.length - 1);
}
