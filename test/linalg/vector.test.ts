import { describe, expect, it } from 'vitest';
import { axpy, combine, dot, norm, normalize, orthogonalize, orthonormalBasis, scale } from '../../src/linalg/index.js';
import { Rng } from '../../src/tensor/rng.js';

function randomVector(seed: number, n: number): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n)) as Float32Array;
}

describe('vector helpers', () => {
  it('accumulate dot products in float64 even for float32 storage', () => {
    // In float32 arithmetic 1e8 + 1 rounds back to 1e8 and the sum would be 0.
    const a = Float32Array.of(1e8, 1, -1e8);
    const ones = Float32Array.of(1, 1, 1);
    expect(dot(a, ones)).toBe(1);
  });

  it('compute norms without overflow or underflow', () => {
    expect(norm(Float64Array.of(3e200, 4e200))).toBeCloseTo(5e200, -188);
    expect(norm(Float64Array.of(3e-200, 4e-200)) / 5e-200).toBeCloseTo(1, 12);
    expect(norm(new Float32Array(4))).toBe(0);
  });

  it('axpy, scale and normalize act in place', () => {
    const y = Float64Array.of(1, 2, 3);
    axpy(2, Float64Array.of(1, 1, 1), y);
    expect(Array.from(y)).toEqual([3, 4, 5]);
    scale(0.5, y);
    expect(Array.from(y)).toEqual([1.5, 2, 2.5]);
    const v = Float64Array.of(3, 4);
    expect(normalize(v)).toBe(5);
    expect(v[0]).toBeCloseTo(0.6, 15);
    expect(v[1]).toBeCloseTo(0.8, 15);
  });

  it('orthogonalize leaves a vector orthogonal to the basis and returns the projections', () => {
    const n = 500;
    const basis = orthonormalBasis([0, 1, 2, 3, 4].map((s) => randomVector(s, n)));
    const v = randomVector(99, n);
    const expected = basis.map((b) => dot(b, v));
    const coeffs = orthogonalize(v, basis);
    basis.forEach((b, j) => {
      expect(Math.abs(dot(b, v))).toBeLessThan(1e-6 * norm(v));
      expect(coeffs[j]).toBeCloseTo(expected[j]!, 5);
    });
  });

  it('two passes recover orthogonality that one pass loses on a nearly dependent vector', () => {
    const n = 300;
    const basis = orthonormalBasis([1, 2, 3].map((s) => Float64Array.from(randomVector(s, n))) as unknown as Float32Array[]);
    const make = (): Float64Array => {
      const v = new Float64Array(n);
      basis.forEach((b, j) => axpy(1e6 * (j + 1), b, v));
      axpy(1, Float64Array.from(randomVector(7, n)), v);
      return v;
    };
    const once = make();
    orthogonalize(once, basis, 1);
    const twice = make();
    orthogonalize(twice, basis, 2);
    const worst = (v: Float64Array): number => Math.max(...basis.map((b) => Math.abs(dot(b, v)))) / norm(v);
    expect(worst(twice)).toBeLessThan(1e-9);
    expect(worst(twice)).toBeLessThan(worst(once));
  });

  it('orthonormalBasis drops dependent columns', () => {
    const n = 50;
    const a = randomVector(1, n);
    const b = randomVector(2, n);
    const c = Float32Array.from(a, (x, i) => 2 * x - 3 * b[i]!);
    const q = orthonormalBasis([a, b, c]);
    expect(q).toHaveLength(2);
    expect(dot(q[0]!, q[1]!)).toBeLessThan(1e-6);
    expect(norm(q[1]!)).toBeCloseTo(1, 6);
  });

  it('combine sums scaled vectors', () => {
    const x = combine([Float32Array.of(1, 2), Float32Array.of(3, 4)], [2, -1], 2);
    expect(Array.from(x)).toEqual([-1, 0]);
  });
});
