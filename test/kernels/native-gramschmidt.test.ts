import { describe, expect, it } from 'vitest';
import { configureNative } from '../../src/kernels/native.js';
import { gramSchmidtAny, referenceKernels as ref } from '../../src/kernels/reference.js';
import { Rng } from '../../src/tensor/rng.js';
import { bits } from '../helpers/bits.js';
import { nativeKernels, randomArray, restoreNativeSettingsAfterAll } from './helpers.js';

restoreNativeSettingsAfterAll();

describe('native Gram-Schmidt', () => {
  // n across the update's chunks of 4096, m across the dot products' groups of 4, 0-2 passes
  const shapes = [
    { n: 3, m: 0 },
    { n: 1, m: 1 },
    { n: 7, m: 3 },
    { n: 4095, m: 4 },
    { n: 4096, m: 5 },
    { n: 4097, m: 9 },
    { n: 20000, m: 12 },
  ];

  for (const threads of [1, 2]) {
    it(`gives the plain loop's bits for v and the coefficients (${threads} thread(s))`, () => {
      configureNative({ threads });
      const rng = new Rng(31);
      for (const { n, m } of shapes) {
        const basis = Array.from({ length: m }, () => randomArray(rng, n));
        const v0 = randomArray(rng, n);
        for (const passes of [0, 1, 2]) {
          const start = Float64Array.from({ length: m }, (_, j) => j / 3); // coefficients are added to what is there
          const vr = v0.slice(), cr = start.slice();
          const vn = v0.slice(), cn = start.slice();
          ref.gramSchmidt(vr, basis, passes, cr);
          nativeKernels().gramSchmidt(vn, basis, passes, cn);
          // bit patterns, so that -0 and +0 count as different
          expect(bits(vn), `v, n=${n} m=${m} passes=${passes}`).toEqual(bits(vr));
          expect(bits(cn), `coefficients, n=${n} m=${m} passes=${passes}`).toEqual(bits(cr));
        }
      }
    });
  }

  it('removes the components along unit vectors exactly and returns them (an oracle by construction)', () => {
    // basis = e_1, e_4, e_9 of R^n: one pass zeroes those entries and returns them as coefficients;
    // the second pass finds coefficients of exactly 0 and skips them
    const n = 10000;
    const idx = [1, 4, 9];
    const basis = idx.map((i) => {
      const e = new Float32Array(n);
      e[i] = 1;
      return e;
    });
    const v = randomArray(new Rng(32), n);
    const original = v.slice();
    const expected = v.slice();
    for (const i of idx) expected[i] = 0;
    const coeffs = new Float64Array(3);
    nativeKernels().gramSchmidt(v, basis, 2, coeffs);
    expect(bits(v)).toEqual(bits(expected));
    expect(Array.from(coeffs)).toEqual(idx.map((i) => original[i]!));
  });

  it('leaves a vector orthogonal to an orthonormal basis at a size large enough to be threaded', () => {
    configureNative({ threads: 2 });
    const n = 50000;
    const rng = new Rng(33);
    // orthonormalise with the kernel itself (two passes), then check with float64 dots written here
    const basis: Float32Array[] = [];
    for (let j = 0; j < 6; j++) {
      const b = randomArray(rng, n);
      nativeKernels().gramSchmidt(b, basis, 2, new Float64Array(basis.length));
      let s = 0;
      for (const x of b) s += x * x;
      const inv = 1 / Math.sqrt(s);
      for (let i = 0; i < n; i++) b[i] = b[i]! * inv;
      basis.push(b);
    }
    const v = randomArray(rng, n);
    let vv = 0;
    for (const x of v) vv += x * x;
    nativeKernels().gramSchmidt(v, basis, 2, new Float64Array(6));
    for (const b of basis) {
      let d = 0;
      for (let i = 0; i < n; i++) d += b[i]! * v[i]!;
      // float32 rounding of v and of the basis: about u * sqrt(n) of |v|
      expect(Math.abs(d)).toBeLessThan(2 ** -24 * Math.sqrt(n) * Math.sqrt(vv) * 4);
    }
  });

  it('refuses a basis vector of the wrong length, a short coefficient array and a float64 basis, naming each', () => {
    const v = new Float32Array(5);
    expect(() => nativeKernels().gramSchmidt(v, [new Float32Array(5), new Float32Array(4)], 1, new Float64Array(2))).toThrow(/basis\[1\] has 4 elements but v has 5/);
    expect(() => nativeKernels().gramSchmidt(v, [new Float32Array(5), new Float32Array(5)], 1, new Float64Array(1))).toThrow(/coeffs must hold one value per basis vector/);
    expect(() => nativeKernels().gramSchmidt(v, [new Float64Array(5) as unknown as Float32Array], 1, new Float64Array(1))).toThrow(/basis\[0\] must be a Float32Array/);
    expect(() => gramSchmidtAny(v, [new Float32Array(4)], 1, new Float64Array(1))).toThrow(/length 5 against a basis vector of length 4/);
  });
});
