import { afterAll, expect } from 'vitest';
import { configureNative, loadNativeKernels, nativeInfo, type NativeSettings } from '../../src/kernels/native.js';
import type { Kernels } from '../../src/kernels/types.js';
import { Rng } from '../../src/tensor/rng.js';

/** The native kernels; where the addon is not built, the test that needs them fails saying how to build it. */
export function nativeKernels(): Kernels {
  const loaded = loadNativeKernels();
  if (!loaded.kernels) throw new Error(`the native addon is not built (${loaded.reason}); run 'node scripts/build-native.mjs'`);
  return loaded.kernels;
}

/** Puts the addon's GEMM, instruction set and thread count back, after the calling file's tests, as they were before them. */
export function restoreNativeSettingsAfterAll(): void {
  const initial = nativeInfo();
  afterAll(() => {
    if (initial) configureNative({ gemm: initial.gemm, isa: initial.isa, threads: initial.threads });
  });
}

/** The least multiple of 24 above n: that many rows are whole tiles of 6, 8 and 12 (every own kernel's), so no tail tile serves any. */
export const wholeTilesAbove = (n: number): number => Math.ceil((n + 1) / 24) * 24;

export function randomArray(rng: Rng, n: number): Float32Array {
  return rng.fillUniform(new Float32Array(n), -1, 1) as Float32Array;
}

/** A Float32Array of n values placed `offset` elements into a larger buffer filled with `fill`. */
export function viewAt(values: Float32Array, offset: number, fill = 7): Float32Array {
  const buf = new Float32Array(offset + values.length + 5).fill(fill);
  const view = buf.subarray(offset, offset + values.length);
  view.set(values);
  return view;
}

export function abs(a: Float32Array): Float32Array {
  return a.map(Math.abs);
}

/**
 * Float32 sums of n products each carry at most about n*u relative error against the float64
 * reference, measured against the sum of the products' magnitudes (`scale`, same shape).
 */
export function expectClose(actual: Float32Array, expected: Float32Array, scale: Float32Array, terms: number, what: string): void {
  expect(actual.length).toBe(expected.length);
  const u = 2 ** -24;
  for (let i = 0; i < actual.length; i++) {
    const tol = 2 * (terms + 2) * u * scale[i]! + 1e-30;
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol)) {
      throw new Error(`${what}: element ${i} is ${actual[i]} but the reference says ${expected[i]} (tolerance ${tol})`);
    }
  }
}

/** Every configuration of the addon worth testing on this machine: each GEMM backend and instruction set, 1 and 2 threads. */
export function nativeConfigs(): (NativeSettings & { label: string })[] {
  const info = nativeInfo();
  if (!info) return [];
  const isas = (['generic', 'avx2', 'avx512'] as const).filter(
    (isa) => ['generic', 'avx2', 'avx512'].indexOf(isa) <= ['generic', 'avx2', 'avx512'].indexOf(info.bestIsa),
  );
  const out: (NativeSettings & { label: string })[] = [];
  for (const threads of [1, 2]) {
    for (const isa of isas) out.push({ label: `own ${isa}, ${threads} thread(s)`, gemm: 'own', isa, threads });
    if (info.blas) out.push({ label: `OpenBLAS, ${threads} thread(s)`, gemm: 'blas', isa: info.bestIsa, threads });
  }
  return out;
}
