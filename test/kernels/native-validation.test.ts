import { describe, expect, it } from 'vitest';
import { configureNative, nativeInfo } from '../../src/kernels/native.js';
import { referenceKernels } from '../../src/kernels/reference.js';
import { nativeKernels } from './helpers.js';

const g = { C: 2, H: 5, W: 5, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 };
const f = (n: number) => new Float32Array(n);

describe('native kernels reject bad arguments with typed errors', () => {
  it('sgemm: too-short arrays throw a RangeError naming the array and the size needed', () => {
    const k = nativeKernels();
    expect(() => k.sgemm(false, false, 3, 4, 5, 1, f(14), f(20), 0, f(12))).toThrow(/A has 14 elements but M\*K = 15/);
    expect(() => k.sgemm(false, false, 3, 4, 5, 1, f(15), f(19), 0, f(12))).toThrow(RangeError);
    expect(() => k.sgemm(true, true, 3, 4, 5, 1, f(15), f(20), 0, f(11))).toThrow(/C has 11 elements but M\*N = 12/);
    // a view is as long as its own length, not its buffer's
    const big = f(100);
    expect(() => k.sgemm(false, false, 3, 4, 5, 1, big.subarray(90), f(20), 0, f(12))).toThrow(/A has 10 elements/);
  });

  it('sgemm: wrong types and non-integer sizes', () => {
    const k = nativeKernels();
    const call = (...args: unknown[]) => (k.sgemm as (...a: unknown[]) => void)(...args);
    expect(() => call(false, false, 2, 2, 2, 1, new Float64Array(4), f(4), 0, f(4))).toThrow(TypeError);
    expect(() => call(false, false, 2, 2, 2, 1, [1, 2, 3, 4], f(4), 0, f(4))).toThrow(/A must be a Float32Array/);
    expect(() => call(0, false, 2, 2, 2, 1, f(4), f(4), 0, f(4))).toThrow(/transA must be a boolean/);
    expect(() => call(false, false, 2.5, 2, 2, 1, f(6), f(6), 0, f(6))).toThrow(/M must be an integer/);
    expect(() => call(false, false, -1, 2, 2, 1, f(4), f(4), 0, f(4))).toThrow(RangeError);
    expect(() => call(false, false, 2, 2, 2, NaN, f(4), f(4), 0, f(4))).toThrow(/alpha must be finite/);
    expect(() => call(false, false, 2, 2)).toThrow(/expected 10 arguments/);
  });

  it('im2col, col2im and the convolutions check every array against the geometry', () => {
    const k = nativeKernels();
    const col = 2 * 9 * 25;
    expect(() => k.im2col(f(49), g, f(col))).toThrow(/x has 49 elements but C\*H\*W = 50/);
    expect(() => k.im2col(f(50), g, f(col - 1))).toThrow(/col has 449 elements/);
    expect(() => k.col2im(f(col - 1), g, f(50))).toThrow(RangeError);
    expect(() => k.conv2dForward(f(2 * 50), f(3 * 18), f(2 * 3 * 25 - 1), 2, 3, g)).toThrow(/y has 149 elements but N\*O\*Ho\*Wo = 150/);
    expect(() => k.conv2dBackwardInput(f(150), f(53), f(100), 2, 3, g)).toThrow(/w has 53 elements but O\*C\*kh\*kw = 54/);
    expect(() => k.conv2dBackwardWeight(f(150), f(99), f(54), 2, 3, g)).toThrow(/x has 99 elements but N\*C\*H\*W = 100/);
    // the second pair of the forward and the input gradient: both arrays, each shaped as its first
    expect(() => k.conv2dForward(f(100), f(54), f(150), 2, 3, g, false, f(99), f(54))).toThrow(/x2 has 99 elements but N\*C\*H\*W = 100/);
    expect(() => k.conv2dBackwardInput(f(150), f(54), f(100), 2, 3, g, false, f(150), f(53))).toThrow(/w2 has 53 elements but O\*C\*kh\*kw = 54/);
    const half = (k.conv2dForward as (...a: unknown[]) => void).bind(k);
    expect(() => half(f(100), f(54), f(150), 2, 3, g, false, f(100))).toThrow(/the second pair needs both of its arrays/);
    expect(() => half(f(100), f(54), f(150), 2, 3, g, false, f(100), [1])).toThrow(/w2 must be a Float32Array/);
    expect(() => (referenceKernels.conv2dForward as (...a: unknown[]) => void)(f(100), f(54), f(150), 2, 3, g, false, f(100))).toThrow(
      /the second pair needs both of its arrays/,
    );
    expect(() => (k.conv2dBackwardWeight as (...a: unknown[]) => void)(f(150), f(100), f(54), 2, 3, g, false, f(150), f(54))).toThrow(
      /expected 6 or 7 arguments, got 9/,
    );
  });

  it('rejects impossible geometries', () => {
    const k = nativeKernels();
    expect(() => k.im2col(f(50), { ...g, kh: 8, ph: 1 }, f(1000))).toThrow(/kernel is larger than the padded/);
    expect(() => k.im2col(f(50), { ...g, sh: 0 }, f(1000))).toThrow(/geometry.sh must be an integer >= 1/);
    expect(() => k.im2col(f(50), { ...g, pw: -1 }, f(1000))).toThrow(/geometry.pw must be an integer >= 0/);
    const { W: _W, ...noW } = g;
    expect(() => k.im2col(f(50), noW as typeof g, f(1000))).toThrow(/geometry.W must be a number/);
    expect(() => k.conv2dForward(f(50), f(18), f(25), 1, 0, g)).toThrow(/O must be an integer >= 1/);
  });

  it('configure rejects unknown settings and leaves the current ones in place', () => {
    nativeKernels();
    const before = nativeInfo()!;
    expect(() => configureNative({ gemm: 'fast' as 'own' })).toThrow(RangeError);
    expect(() => configureNative({ threads: 0 })).toThrow(RangeError);
    expect(() => configureNative({ threads: 65 })).toThrow(RangeError);
    expect(() => configureNative({ isa: 'sse' as 'avx2' })).toThrow(RangeError);
    if (!before.blas) expect(() => configureNative({ gemm: 'blas' })).toThrow(/needs OpenBLAS/);
    // a valid setting next to an invalid one is not applied either
    expect(() => configureNative({ threads: before.threads === 1 ? 2 : 1, isa: 'sse' as 'avx2' })).toThrow(RangeError);
    expect(nativeInfo()).toEqual(before);
  });
});
