import { afterEach, describe, expect, it } from 'vitest';
import { parameter } from '../../src/autodiff/index.js';
import { referenceKernels, setKernels, type Kernels } from '../../src/kernels/index.js';
import { loadNativeKernels } from '../../src/kernels/native.js';
import * as ops from '../../src/ops/index.js';
import { Rng, sizeOf, Tensor, type Shape } from '../../src/tensor/index.js';
import { bits } from '../helpers/bits.js';

/**
 * The tangent of a·b with both factors varying is ȧ·b + a·ḃ, computed in one pass: it must be the
 * bits of the float32 product ȧ·b with the float32 product a·ḃ added to it (what two passes gave).
 */

const filled = (n: number, seed: number) => new Rng(seed).fillNormal(new Float32Array(n)) as Float32Array;
const leaf = (shape: Shape, seed: number) => parameter(new Tensor(shape, filled(sizeOf(shape), seed)));

/** Row-major index of `idx` (right-aligned to `shape`, broadcast where a dimension is 1). */
function at(shape: Shape, idx: number[]): number {
  let off = 0;
  const lead = idx.length - shape.length;
  for (let d = 0; d < shape.length; d++) off = off * shape[d]! + (shape[d] === 1 ? 0 : idx[lead + d]!);
  return off;
}

function oracle(k: number, out: Shape, a: Float32Array, aShape: Shape, b: Float32Array, bShape: Shape, ta: Float32Array, tb: Float32Array): Float32Array {
  const f = Math.fround, n = sizeOf(out), na = sizeOf(aShape), nb = sizeOf(bShape);
  const res = new Float32Array(k * n);
  for (let j = 0; j < k; j++)
    for (let i = 0; i < n; i++) {
      const idx: number[] = [];
      for (let d = out.length - 1, rem = i; d >= 0; d--) (idx[d] = rem % out[d]!), (rem = Math.floor(rem / out[d]!));
      const p = at(aShape, idx), q = at(bShape, idx);
      res[j * n + i] = f(f(ta[j * na + p]! * b[q]!) + f(a[p]! * tb[j * nb + q]!));
    }
  return res;
}

const sets: [string, Kernels][] = [['reference', referenceKernels]];
const native = loadNativeKernels().kernels;
if (native) sets.push(['native', native]);
// without the addon (HESSE_REQUIRE_NATIVE makes that a failure elsewhere) only the reference kernels run

describe("mul's tangent with both factors varying", () => {
  afterEach(() => setKernels(undefined));

  it.each(sets)('is ȧ·b + a·ḃ bit for bit, one pass, with the %s kernels', (_name, set) => {
    setKernels(set);
    const cases: [Shape, Shape][] = [
      [[2, 3, 4, 5], [1, 3, 1, 1]], // batch norm's g·s
      [[1, 3, 1, 1], [2, 3, 4, 5]],
      [[3, 70], [3, 70]],
      [[64, 16, 9, 9], [1, 16, 1, 1]], // large enough to be split over threads
      [[4, 5], [5]],
    ];
    for (const [aShape, bShape] of cases)
      for (const k of [1, 3]) {
        const a = leaf(aShape, 1), b = leaf(bShape, 2);
        const y = ops.mul(a, b);
        const ta = filled(k * a.value.size, 3), tb = filled(k * b.value.size, 4);
        const got = y.op!.jvp(y, [new Tensor([k, ...aShape], ta), new Tensor([k, ...bShape], tb)], k)!;
        expect(got.shape).toEqual([k, ...y.shape]);
        expect(bits(got.data)).toEqual(bits(oracle(k, y.shape, a.value.data, aShape, b.value.data, bShape, ta, tb)));
      }
  });
});
