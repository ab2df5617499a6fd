import { describe, expect, it } from 'vitest';
import { Elementwise, referenceKernels } from '../../src/kernels/index.js';
import { configureNative, loadNativeKernels, nativeInfo } from '../../src/kernels/native.js';
import { geometry } from '../../src/ops/broadcast.js';
import { Rng, sizeOf, type Shape } from '../../src/tensor/index.js';
import { randomArray, viewAt } from './helpers.js';

const native = loadNativeKernels().kernels!;
const kinds = [Elementwise.Add, Elementwise.Sub, Elementwise.Mul, Elementwise.Div, Elementwise.Copy, Elementwise.Max, Elementwise.Greater, Elementwise.Gate] as const;

/** [out shape, a shape, b shape] cases: same shape, per-channel, scalar, leading block, inner broadcast, large (threaded). */
const cases: [Shape, Shape, Shape][] = [
  [[7], [7], [7]],
  [[2, 3, 4, 5], [2, 3, 4, 5], [1, 3, 1, 1]],
  [[2, 3, 4, 5], [1, 3, 1, 1], [2, 3, 4, 5]],
  [[3, 5], [3, 5], []],
  [[4, 2, 3, 6], [4, 2, 3, 6], [2, 3, 6]],
  [[5, 3], [5, 1], [1, 3]],
];
/** Large enough for the kernel to split it over threads (the reference is slow: one kind only). */
const large: [Shape, Shape, Shape] = [[4, 64, 33, 33], [4, 64, 33, 33], [1, 64, 1, 1]];

describe('native elementwise kernels against the reference', () => {
  it.each([1, 2])('binary: every kind, accumulate or not, broadcasting and views (%i threads)', (threads) => {
    const before = nativeInfo()!;
    configureNative({ threads });
    try {
      const rng = new Rng(threads);
      for (const [out, as, bs] of [...cases, large]) {
        const a = viewAt(randomArray(rng, sizeOf(as)), 3);
        const b = viewAt(rng.fillUniform(new Float32Array(sizeOf(bs)), 0.5, 2) as Float32Array, 1);
        const g = geometry(out, [as, bs]);
        for (const kind of out === large[0] ? [Elementwise.Mul] : kinds) {
          for (const acc of [false, true]) {
            const start = randomArray(rng, sizeOf(out));
            const want = start.slice(), got = viewAt(start, 2);
            referenceKernels.binary(kind, a, b, want, g, acc);
            native.binary(kind, a, kind === Elementwise.Copy ? null : b, got, g, acc);
            // every element is one or two roundings of the same float32 operations
            let worst = 0;
            for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (Math.abs(want[i]!) + 1));
            expect(worst).toBeLessThanOrEqual(2 ** -22);
          }
        }
      }
    } finally {
      configureNative({ threads: before.threads });
    }
  });

  it('reduce: sums and sums of products down to any broadcastable shape, in float64', () => {
    const rng = new Rng(5);
    const sums: [Shape, Shape, Shape][] = [
      [[2, 3, 4, 5], [1, 3, 1, 1], [2, 3, 4, 5]],
      [[2, 3, 4, 5], [2, 3, 4, 5], [1]],
      [[6, 7], [6, 1], [1, 7]],
      [[3, 2, 8, 8], [3, 1, 1, 1], [3, 2, 8, 8]],
    ];
    for (const [full, outShape, bShape] of sums) {
      const a = randomArray(rng, sizeOf(full));
      const b = randomArray(rng, sizeOf(bShape));
      for (const withB of [false, true]) {
        const g = geometry(full, [full, withB ? bShape : full, outShape]);
        const want = new Float32Array(sizeOf(outShape)), got = new Float32Array(sizeOf(outShape)).fill(NaN);
        referenceKernels.reduce(a, withB ? b : null, want, g);
        native.reduce(a, withB ? b : null, got, g);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (Math.abs(want[i]!) + 1));
        expect(worst).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  it('max against zero is ReLU with NaN passed through, greater is its 0/1 mask', () => {
    const x = Float32Array.of(-2, -0, 0, 0.5, NaN, Infinity, -Infinity);
    const g = Float64Array.of(1, x.length, 1, 0);
    const zero = new Float32Array(1);
    const relu = new Float32Array(x.length), mask = new Float32Array(x.length);
    native.binary(Elementwise.Max, x, zero, relu, g, false);
    native.binary(Elementwise.Greater, x, zero, mask, g, false);
    expect([...relu]).toEqual([0, 0, 0, 0.5, NaN, Infinity, 0]);
    expect([...mask]).toEqual([0, 0, 0, 1, 0, 1, 0]);
  });

  it('refuses operands too short for their strides and bad geometry', () => {
    const g = geometry([4, 5], [[4, 5], [1, 5]]);
    expect(() => native.binary(Elementwise.Add, new Float32Array(19), new Float32Array(5), new Float32Array(20), g, false)).toThrow(/a is too short/);
    expect(() => native.binary(Elementwise.Add, new Float32Array(20), new Float32Array(4), new Float32Array(20), g, false)).toThrow(/b is too short/);
    expect(() => native.binary(Elementwise.Add, new Float32Array(20), new Float32Array(5), new Float32Array(19), g, false)).toThrow(/out is shorter/);
    expect(() => native.binary(Elementwise.Mul, new Float32Array(20), null, new Float32Array(20), g, false)).toThrow(/b must be/);
    expect(() => native.reduce(new Float32Array(20), null, new Float32Array(1), Float64Array.of(9, 1))).toThrow(/rank/);
  });
});
