import { describe, expect, it } from 'vitest';
import { configureNative, nativeInfo } from '../../src/kernels/native.js';
import { referenceKernels as ref } from '../../src/kernels/reference.js';
import { Rng } from '../../src/tensor/rng.js';
import { bits } from '../helpers/bits.js';
import { abs, expectClose, nativeConfigs, nativeKernels, randomArray, restoreNativeSettingsAfterAll, viewAt, wholeTilesAbove } from './helpers.js';

restoreNativeSettingsAfterAll();

interface Case {
  tA: boolean;
  tB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
}

/** Runs one product natively and against the reference; A, B, C are placed at offsets inside larger buffers. */
function check(rng: Rng, c: Case, label: string, offsets = [0, 0, 0]): void {
  const { tA, tB, M, N, K, alpha, beta } = c;
  const A = randomArray(rng, M * K);
  const B = randomArray(rng, K * N);
  const C0 = randomArray(rng, M * N);
  const expected = C0.slice();
  ref.sgemm(tA, tB, M, N, K, alpha, A, B, beta, expected);
  const scale = abs(C0);
  ref.sgemm(tA, tB, M, N, K, Math.abs(alpha), abs(A), abs(B), Math.abs(beta), scale);
  const Cv = viewAt(C0, offsets[2]!);
  nativeKernels().sgemm(tA, tB, M, N, K, alpha, viewAt(A, offsets[0]!), viewAt(B, offsets[1]!), beta, Cv);
  expectClose(Cv, expected, scale, K, `${label} ${JSON.stringify(c)}`);
  // the elements around the view are untouched
  const whole = new Float32Array(Cv.buffer);
  const start = Cv.byteOffset / 4;
  for (let i = 0; i < start; i++) expect(whole[i]).toBe(7);
  for (let i = start + Cv.length; i < whole.length; i++) expect(whole[i]).toBe(7);
}

const sizes = [1, 3, 17, 63, 65, 129];

describe.each(nativeConfigs())('native sgemm, $label', (cfg) => {
  it('matches the reference on odd sizes with every transpose combination', () => {
    configureNative(cfg);
    const rng = new Rng(11);
    for (const tA of [false, true])
      for (const tB of [false, true])
        for (let t = 0; t < 6; t++) {
          const M = sizes[rng.int(sizes.length)]!;
          const N = sizes[rng.int(sizes.length)]!;
          const K = sizes[rng.int(sizes.length)]!;
          check(rng, { tA, tB, M, N, K, alpha: 1, beta: 0 }, cfg.label);
        }
  });

  it('applies alpha and beta, and honours subarray offsets', () => {
    configureNative(cfg);
    const rng = new Rng(12);
    for (const [alpha, beta] of [[0.5, 0.25], [-1.5, 1], [2, -0.75], [1, 1]] as const)
      for (const tA of [false, true])
        for (const tB of [false, true])
          check(rng, { tA, tB, M: 37, N: 45, K: 300, alpha, beta }, cfg.label, [3, 5, 1]);
  });

  it('ignores C entirely when beta is 0, NaN included', () => {
    configureNative(cfg);
    const rng = new Rng(13);
    const [M, N, K] = [19, 33, 21];
    const A = randomArray(rng, M * K);
    const B = randomArray(rng, K * N);
    const expected = new Float32Array(M * N);
    ref.sgemm(false, false, M, N, K, 1, A, B, 0, expected);
    const C = new Float32Array(M * N).fill(NaN);
    nativeKernels().sgemm(false, false, M, N, K, 1, A, B, 0, C);
    expect(C.every(Number.isFinite)).toBe(true);
    const scale = new Float32Array(M * N);
    ref.sgemm(false, false, M, N, K, 1, abs(A), abs(B), 0, scale);
    expectClose(C, expected, scale, K, 'beta = 0 over NaN');
  });

  it('splits large products over threads without changing the result', () => {
    configureNative(cfg);
    const rng = new Rng(14);
    // 64 x 260 x 257 is past the size where a second thread starts, split along N; 300 x 40 along M
    check(rng, { tA: false, tB: true, M: 64, N: 260, K: 257, alpha: 1, beta: 0.5 }, cfg.label);
    check(rng, { tA: true, tB: false, M: 300, N: 40, K: 350, alpha: 1, beta: 0 }, cfg.label);
  });

  it('handles empty dimensions: K = 0 scales C by beta, M or N = 0 does nothing', () => {
    configureNative(cfg);
    const C = new Float32Array([1, 2, 3, 4, 5, 6]);
    nativeKernels().sgemm(false, false, 2, 3, 0, 1, new Float32Array(0), new Float32Array(0), 0.5, C);
    expect(Array.from(C)).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
    nativeKernels().sgemm(false, false, 2, 3, 0, 1, new Float32Array(0), new Float32Array(0), 0, C);
    expect(Array.from(C)).toEqual([0, 0, 0, 0, 0, 0]);
    const D = new Float32Array([9]);
    nativeKernels().sgemm(false, false, 0, 5, 4, 1, new Float32Array(0), new Float32Array(20), 0, D);
    expect(D[0]).toBe(9);
  });
});

describe('native sgemm backends', () => {
  it('reports the backend and thread count in its description', () => {
    const k = nativeKernels();
    const info = configureNative({ gemm: 'own', threads: 2 });
    expect(k.description).toBe(`native (own ${info.kernel} kernel, 2 threads)`);
    configureNative({ threads: 1 });
    expect(k.description).toMatch(/, 1 thread\)$/);
    if (info.blas) {
      configureNative({ gemm: 'blas', threads: 2 });
      expect(k.description).toMatch(/^native \(OpenBLAS [\d.]+, 2 threads\)$/);
    }
  });

  it('gives the same own-kernel result for 1 and 2 threads (the split does not change any sum)', () => {
    const rng = new Rng(15);
    const [M, N, K] = [70, 300, 211];
    const A = randomArray(rng, M * K);
    const B = randomArray(rng, K * N);
    const one = new Float32Array(M * N);
    const two = new Float32Array(M * N);
    configureNative({ gemm: 'own', threads: 1 });
    nativeKernels().sgemm(false, false, M, N, K, 1, A, B, 0, one);
    configureNative({ gemm: 'own', threads: 2 });
    nativeKernels().sgemm(false, false, M, N, K, 1, A, B, 0, two);
    expect(two).toEqual(one);
  });
});

describe.each(nativeConfigs().filter((c) => c.gemm === 'own'))('native sgemm row tiles, $label', (cfg) => {
  // A row of C sums the same products in the same order whichever tile computes it: the full
  // tile, an edge tile with padding rows, or (AVX2) the narrower 4-row tail. So the first M rows
  // of op(A)·B come out with the same bits when more rows follow them (here up to whole tiles of
  // 6, 8 and 12, so that no tail is used), in both layouts of A and with and without beta.
  it('gives the first M rows the same bits when rows are added below them', () => {
    configureNative(cfg);
    const rng = new Rng(16);
    for (const [M, N, K] of [[16, 40, 300], [10, 33, 77], [4, 16, 9], [32, 50, 600], [1, 17, 64], [64, 20, 31]] as const) {
      const Mbig = wholeTilesAbove(M);
      const Abig = randomArray(rng, Mbig * K); // Mbig x K, row-major
      const B = randomArray(rng, K * N);
      const C0 = randomArray(rng, Mbig * N);
      for (const tA of [false, true]) {
        // stored M x K, or K x M when transposed (a leading dimension of M: the first M rows only)
        const stored = (rows: number) =>
          tA ? Float32Array.from({ length: K * rows }, (_, i) => Abig[(i % rows) * K + Math.floor(i / rows)]!) : Abig.slice(0, rows * K);
        for (const beta of [0, 0.5]) {
          const small = C0.slice(0, M * N);
          const big = C0.slice();
          nativeKernels().sgemm(tA, false, M, N, K, 0.7, stored(M), B, beta, small);
          nativeKernels().sgemm(tA, false, Mbig, N, K, 0.7, stored(Mbig), B, beta, big);
          expect(bits(small), `M=${M} N=${N} K=${K} transA=${tA} beta=${beta}`).toEqual(bits(big.subarray(0, M * N)));
        }
      }
    }
  });
});
