import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { countingOperator, denseOperator, lanczosEigs, powerIteration, symmetricWithSpectrum, type EigenTarget } from '../../src/linalg/index.js';
import { dot64, fractionInSpan, linspace } from './fixtures.js';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { Rng } from '../../src/tensor/index.js';

/** The exact eigenpairs ranked as `which` ranks them. */
function ranked(eigenvalues: Float64Array, which: EigenTarget): number[] {
  const idx = Array.from(eigenvalues, (_, i) => i);
  const key = (i: number): number => (which === 'largest' ? -eigenvalues[i]! : which === 'smallest' ? eigenvalues[i]! : -Math.abs(eigenvalues[i]!));
  return idx.sort((a, b) => key(a) - key(b));
}

async function checkAgainstExact(spectrum: number[], which: EigenTarget, k: number, seed: number, extra: Record<string, number> = {}) {
  const m = symmetricWithSpectrum(spectrum, seed);
  const r = await lanczosEigs(denseOperator(m.matrix, m.n), { k, which, tol: 1e-6, seed, ...extra });
  const order = ranked(m.eigenvalues, which);
  expect(r.converged).toEqual(new Array(k).fill(true));
  expect(r.residualsConfirmed).toBe(true);
  r.eigenvalues.forEach((lam, i) => {
    const exact = m.eigenvalues[order[i]!]!;
    expect(Math.abs(lam - exact)).toBeLessThan(1e-6 * Math.max(1, Math.abs(exact)));
    expect(Math.abs(dot64(r.eigenvectors[i]!, m.eigenvectors[order[i]!]!))).toBeGreaterThan(1 - 1e-5);
    // The confirmed residual agrees with the Lanczos estimate up to float32 rounding.
    expect(r.residualNorms[i]).toBeLessThan(1e-5 * Math.max(1, Math.abs(exact)));
  });
  return r;
}

describe('lanczosEigs', () => {
  it('finds a cluster of largest eigenvalues with their eigenvectors', async () => {
    await checkAgainstExact([10, 9.99, 9.98, 9.97, ...linspace(-1, 5, 196)], 'largest', 4, 1);
  });

  it("finds the most negative eigenvalues with which: 'smallest'", async () => {
    await checkAgainstExact([-7, -6.5, -6.4, ...linspace(-3, 8, 147)], 'smallest', 3, 2);
  });

  it("finds the largest in magnitude with which: 'magnitude'", async () => {
    const r = await checkAgainstExact([-6, 5.5, ...linspace(-3, 5, 148)], 'magnitude', 2, 3);
    expect(r.eigenvalues[0]).toBeLessThan(0);
  });

  it('separates eigenvalues 1e-4 apart', async () => {
    await checkAgainstExact([1, 1 - 1e-4, 1 - 2e-4, ...linspace(-0.5, 0.9, 197)], 'largest', 3, 4, { tol: 1e-7 });
  });

  it('keeps working in bounded memory through many thick restarts', async () => {
    const r = await checkAgainstExact(linspace(0, 1, 200).map((x) => x ** 3), 'largest', 2, 5, { subspaceSize: 10 });
    expect(r.restarts).toBeGreaterThan(3);
    expect(r.options.subspaceSize).toBe(10);
  });

  it('is exact on a rank-deficient matrix, where the Krylov space closes early', async () => {
    const r = await checkAgainstExact([4, 3, 2, 1, 0.5, ...new Array(95).fill(0)], 'largest', 3, 6);
    // Rank 5: the Krylov space of a start vector has dimension at most 6.
    expect(r.products).toBeLessThanOrEqual(6 + 3 + 3);
    const m = symmetricWithSpectrum([4, 3, 2, 1, 0.5, ...new Array(95).fill(0)], 6);
    // The null space is one eigenvalue repeated 95 times: a block of 2 finds two of its directions.
    const zeros = await lanczosEigs(denseOperator(m.matrix, m.n), { k: 2, which: 'smallest', blockSize: 2, seed: 6 });
    zeros.eigenvalues.forEach((lam) => expect(Math.abs(lam)).toBeLessThan(1e-6));
    const nullSpace = m.eigenvectors.slice(5);
    zeros.eigenvectors.forEach((v) => expect(fractionInSpan(v, nullSpace)).toBeGreaterThan(1 - 1e-6));
  });

  it('returns every eigenpair when k equals the size', async () => {
    const spectrum = [3, 1, 2, -1, 0.5];
    const m = symmetricWithSpectrum(spectrum, 7);
    const r = await lanczosEigs(denseOperator(m.matrix, m.n), { k: 5, seed: 7 });
    expect(r.eigenvalues.map((x) => +x.toFixed(5))).toEqual([3, 2, 1, 0.5, -1]);
  });

  it('with blockSize >= multiplicity, recovers a repeated eigenvalue with its eigenspace, through matmat', async () => {
    const m = symmetricWithSpectrum([5, 5, 5, 2, ...linspace(-1, 1, 146)], 8);
    const op = countingOperator(denseOperator(m.matrix, m.n));
    const r = await lanczosEigs(op, { k: 3, blockSize: 3, tol: 1e-6, seed: 8 });
    r.eigenvalues.forEach((lam) => expect(lam).toBeCloseTo(5, 5));
    const space = m.eigenvectors.slice(0, 3);
    r.eigenvectors.forEach((v) => expect(fractionInSpan(v, space)).toBeGreaterThan(1 - 1e-6));
    for (let i = 0; i < 3; i++) for (let j = 0; j < i; j++) expect(Math.abs(dot64(r.eigenvectors[i]!, r.eigenvectors[j]!))).toBeLessThan(1e-5);
    expect(op.matmatCalls).toBeGreaterThan(1);
    expect(op.products).toBe(r.products);
  });

  it('with blockSize 1, finds a repeated eigenvalue and a vector in its eigenspace', async () => {
    const m = symmetricWithSpectrum([5, 5, 5, 2, ...linspace(-1, 1, 146)], 9);
    const r = await lanczosEigs(denseOperator(m.matrix, m.n), { k: 1, tol: 1e-6, seed: 9 });
    expect(r.eigenvalues[0]).toBeCloseTo(5, 5);
    expect(fractionInSpan(r.eigenvectors[0]!, m.eigenvectors.slice(0, 3))).toBeGreaterThan(1 - 1e-6);
  });

  it('needs far fewer products than power iteration for the same accuracy on a small relative gap', async () => {
    // λ2/λ1 = 0.99: power iteration's eigenvector error shrinks by 0.99 per product.
    const m = symmetricWithSpectrum([1, 0.99, ...linspace(-0.5, 0.66, 198)], 10);
    const op = denseOperator(m.matrix, m.n);
    const lanczos = await lanczosEigs(op, { tol: 1e-4, seed: 10 });
    expect(lanczos.converged[0]).toBe(true);
    const residual = lanczos.residualNorms[0]!;
    const eigenvalueError = Math.abs(lanczos.eigenvalues[0]! - 1);
    expect(residual).toBeLessThan(1e-4);
    expect(eigenvalueError).toBeLessThan(1e-7);
    // The first power iterate as good as Lanczos's answer in both residual and eigenvalue.
    const power = await powerIteration(op, { tol: 0, maxIter: 3000, seed: 10 });
    const h = power.history[0]!;
    const reached = power.residualHistory[0]!.findIndex((res, i) => res <= residual && Math.abs(h[i]! - 1) <= eigenvalueError);
    expect(reached).toBeGreaterThan(0);
    expect(lanczos.products * 10).toBeLessThan(reached + 1);
  });

  it('reports residual estimates that match the true residuals', async () => {
    const m = symmetricWithSpectrum([3, 2.9, ...linspace(-1, 2, 98)], 11);
    const r = await lanczosEigs(denseOperator(m.matrix, m.n), { k: 2, tol: 1e-3, seed: 11 });
    r.residualNorms.forEach((res, i) => expect(Math.abs(res - r.residualEstimates[i]!)).toBeLessThan(0.05 * res + 1e-6));
  });

  it('keeps its residual estimates honest when stopped right after a thick restart', async () => {
    const m = symmetricWithSpectrum([3, 2.9, ...linspace(-1, 2.5, 98)], 14);
    // subspaceSize 10: the 10th product fills the basis, the restart follows, the budget ends.
    const r = await lanczosEigs(denseOperator(m.matrix, m.n), { k: 2, tol: 1e-12, subspaceSize: 10, maxProducts: 10, seed: 14 });
    expect(r.restarts).toBe(1);
    expect(r.converged).toEqual([false, false]);
    r.residualNorms.forEach((res, i) => expect(Math.abs(res - r.residualEstimates[i]!)).toBeLessThan(0.01 * res));
  });

  it('stops at maxProducts unconverged, and on abort with a partial result', async () => {
    const m = symmetricWithSpectrum([1, 0.9999, ...linspace(0, 0.9, 98)], 12);
    const op = denseOperator(m.matrix, m.n);
    const capped = await lanczosEigs(op, { tol: 1e-10, maxProducts: 8, seed: 1 });
    expect(capped.converged).toEqual([false]);
    expect(capped.products).toBe(8 + 1);
    const controller = new AbortController();
    const aborted = await lanczosEigs(op, {
      tol: 1e-10,
      seed: 1,
      signal: controller.signal,
      onProgress: (p) => p.done === 5 && controller.abort(),
    });
    expect(aborted.aborted).toBe(true);
    expect(aborted.products).toBe(5);
    expect(aborted.residualsConfirmed).toBe(false);
    expect(aborted.eigenvalues[0]).toBeGreaterThan(0.5);
  });

  it('is deterministic in its seed and honours a start vector', async () => {
    const m = symmetricWithSpectrum(linspace(-1, 2, 60), 13);
    const op = denseOperator(m.matrix, m.n);
    const a = await lanczosEigs(op, { seed: 3 });
    const b = await lanczosEigs(op, { seed: 3 });
    expect(a.eigenvectors).toEqual(b.eigenvectors);
    // A start vector that is the top eigenvector converges with the first product.
    const s = await lanczosEigs(op, { startVector: Float32Array.from(m.eigenvectors[59]!), confirmResiduals: false });
    expect(s.products).toBe(1);
    expect(s.eigenvalues[0]).toBeCloseTo(2, 5);
  });

  it('warm-started from a nearby operator\'s top eigenvector: the same eigenvalues in fewer products', async () => {
    // A checkpoint later in training sees a slightly moved Hessian: A2 = A1 + E, E small and symmetric
    const m = symmetricWithSpectrum([...linspace(0, 0.9, 198), 0.97, 1], 21);
    const n = m.n;
    const rng = new Rng(5);
    const a2 = Float64Array.from(m.matrix);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const e = 0.002 * rng.normal();
        a2[i * n + j]! += e;
        if (j !== i) a2[j * n + i]! += e;
      }
    }
    const exact = new EigenvalueDecomposition(new Matrix(Array.from({ length: n }, (_, i) => Array.from(a2.subarray(i * n, (i + 1) * n))))).realEigenvalues.sort((a, b) => b - a);
    const first = await lanczosEigs(denseOperator(m.matrix, n), { k: 1, tol: 1e-6, seed: 1 });
    const op = denseOperator(a2, n);
    const cold = await lanczosEigs(op, { k: 1, tol: 1e-6, seed: 2 });
    const warm = await lanczosEigs(op, { k: 1, tol: 1e-6, seed: 2, startVector: first.eigenvectors[0]! });
    for (const r of [cold, warm]) {
      expect(r.converged).toEqual([true]);
      expect(Math.abs(r.eigenvalues[0]! - exact[0]!)).toBeLessThan(1e-5 * exact[0]!);
    }
    expect(warm.options.startVector).toBe(true);
    expect(warm.products).toBeLessThan(cold.products);
  });

  it('rejects bad options with typed errors', async () => {
    const op = denseOperator(symmetricWithSpectrum(linspace(0, 1, 40), 1).matrix, 40);
    await expect(lanczosEigs(op, { k: 41 })).rejects.toThrow(OptionError);
    await expect(lanczosEigs(op, { which: 'biggest' as EigenTarget })).rejects.toThrow(OptionError);
    await expect(lanczosEigs(op, { k: 8, subspaceSize: 8 })).rejects.toThrow(OptionError);
    await expect(lanczosEigs(op, { startVector: new Float32Array(3) })).rejects.toThrow(OptionError);
  });
});
