import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { denseOperator, powerIteration, symmetricWithSpectrum, type Progress } from '../../src/linalg/index.js';
import { dot64, fractionInSpan, linspace } from './fixtures.js';

describe('powerIteration', () => {
  it('finds the top eigenpairs of a well-separated spectrum, one after another', async () => {
    const eigenvalues = [10, 6, 3, ...linspace(-1, 1, 57)];
    const m = symmetricWithSpectrum(eigenvalues, 1);
    const r = await powerIteration(denseOperator(m.matrix, m.n), { topN: 3, tol: 1e-8, maxIter: 500, seed: 5 });
    expect(r.converged).toEqual([true, true, true]);
    [10, 6, 3].forEach((lam, i) => {
      expect(Math.abs(r.eigenvalues[i]! - lam) / lam).toBeLessThan(1e-6);
      expect(Math.abs(dot64(r.eigenvectors[i]!, m.eigenvectors[i]!))).toBeGreaterThan(1 - 1e-5);
      expect(r.residualNorms[i]).toBeLessThan(1e-2 * lam);
    });
    expect(r.products).toBe(r.iterations.reduce((a, b) => a + b));
    expect(r.method).toBe('power-iteration');
    expect(r.options).toEqual({ topN: 3, maxIter: 500, tol: 1e-8, seed: 5 });
    expect(r.wallTimeMs).toBeGreaterThanOrEqual(0);
  });

  it('converges to the eigenvalue largest in magnitude, negative or not', async () => {
    const m = symmetricWithSpectrum([-8, 4, ...linspace(-2, 2, 40)], 2);
    const r = await powerIteration(denseOperator(m.matrix, m.n), { tol: 1e-9, maxIter: 400, seed: 1 });
    expect(r.eigenvalues[0]).toBeCloseTo(-8, 5);
    expect(Math.abs(dot64(r.eigenvectors[0]!, m.eigenvectors[0]!))).toBeGreaterThan(1 - 1e-6);
  });

  it('recovers a repeated eigenvalue with its whole eigenspace', async () => {
    const m = symmetricWithSpectrum([5, 5, 5, 2, ...linspace(-1, 1, 46)], 3);
    const r = await powerIteration(denseOperator(m.matrix, m.n), { topN: 3, tol: 1e-10, maxIter: 300, seed: 2 });
    const space = m.eigenvectors.slice(0, 3);
    r.eigenvalues.forEach((lam) => expect(lam).toBeCloseTo(5, 5));
    r.eigenvectors.forEach((v) => expect(fractionInSpan(v, space)).toBeGreaterThan(1 - 1e-6));
    // Three mutually orthogonal vectors inside a 3-dimensional space span all of it.
    expect(Math.abs(dot64(r.eigenvectors[0]!, r.eigenvectors[1]!))).toBeLessThan(1e-5);
    expect(Math.abs(dot64(r.eigenvectors[1]!, r.eigenvectors[2]!))).toBeLessThan(1e-5);
  });

  it('returns 0 once the rank of the operator is exhausted', async () => {
    const m = symmetricWithSpectrum([4, 1, ...new Array(28).fill(0)], 4);
    const r = await powerIteration(denseOperator(m.matrix, m.n), { topN: 3, tol: 1e-9, maxIter: 200, seed: 3 });
    expect(r.eigenvalues[0]).toBeCloseTo(4, 5);
    expect(r.eigenvalues[1]).toBeCloseTo(1, 5);
    expect(Math.abs(r.eigenvalues[2]!)).toBeLessThan(1e-5);
  });

  it("stops by PyHessian's rule at the first small relative change, even if inaccurate", async () => {
    // λ2/λ1 = 0.99: the Rayleigh quotient creeps, so the rule stops long before the eigenvector is right.
    const m = symmetricWithSpectrum([1, 0.99, ...linspace(-0.5, 0.6, 98)], 6);
    const r = await powerIteration(denseOperator(m.matrix, m.n), { seed: 4 });
    const h = r.history[0]!;
    const relChange = (i: number): number => Math.abs(h[i - 1]! - h[i]!) / (Math.abs(h[i - 1]!) + 1e-6);
    expect(r.converged[0]).toBe(true);
    expect(relChange(h.length - 1)).toBeLessThan(1e-3);
    for (let i = 1; i < h.length - 1; i++) expect(relChange(i)).toBeGreaterThanOrEqual(1e-3);
    expect(r.eigenvalues[0]).toBe(h[h.length - 1]);
    expect(r.residualHistory[0]![h.length - 1]).toBeGreaterThan(1e-3);
  });

  it('is deterministic in its seed', async () => {
    const m = symmetricWithSpectrum(linspace(1, 3, 30), 7);
    const op = denseOperator(m.matrix, m.n);
    const a = await powerIteration(op, { seed: 9, maxIter: 20 });
    const b = await powerIteration(op, { seed: 9, maxIter: 20 });
    const c = await powerIteration(op, { seed: 10, maxIter: 20 });
    expect(a.eigenvectors).toEqual(b.eigenvectors);
    expect(a.history).toEqual(b.history);
    expect(c.history).not.toEqual(a.history);
  });

  it('reports progress and stops on abort with a partial result', async () => {
    const m = symmetricWithSpectrum([1, 0.999, ...linspace(0, 0.5, 38)], 8);
    const op = denseOperator(m.matrix, m.n);
    const controller = new AbortController();
    const seen: Progress[] = [];
    const r = await powerIteration(op, {
      topN: 2,
      tol: 0,
      maxIter: 50,
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p);
        if (p.done === 7) controller.abort();
      },
    });
    expect(r.aborted).toBe(true);
    expect(r.products).toBe(7);
    expect(r.eigenvalues).toHaveLength(1);
    expect(r.converged).toEqual([false]);
    expect(seen.map((p) => p.done)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(seen[0]).toMatchObject({ total: 100, label: 'power iteration' });
    await expect(powerIteration(op, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('rejects bad options with typed errors', async () => {
    const op = denseOperator([[1, 0], [0, 2]]);
    await expect(powerIteration(op, { topN: 3 })).rejects.toThrow(OptionError);
    await expect(powerIteration(op, { maxIter: 0 })).rejects.toThrow(OptionError);
    await expect(powerIteration(op, { tol: -1 })).rejects.toThrow(OptionError);
  });
});
