import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { countingOperator, denseOperator, diagonalOperator, hutchinson, symmetricWithSpectrum } from '../../src/linalg/index.js';
import { exactTrace, frobeniusSquared, linspace, meanOf, rademacherQuadraticVariance, sampleVariance } from './fixtures.js';

const spectrum = [...linspace(-2, 5, 60)];
const m = symmetricWithSpectrum(spectrum, 21);
const op = denseOperator(m.matrix, m.n);
const trace = exactTrace(m.matrix, m.n);

describe('hutchinson', () => {
  it('is unbiased: over many seeds the mean is within a few standard errors of the exact trace', async () => {
    for (const distribution of ['rademacher', 'gaussian'] as const) {
      const estimates: number[] = [];
      for (let seed = 0; seed < 200; seed++) estimates.push((await hutchinson(op, { probes: 10, seed, distribution })).estimate);
      const se = Math.sqrt(sampleVariance(estimates) / estimates.length);
      expect(Math.abs(meanOf(estimates) - trace)).toBeLessThan(4 * se);
    }
  });

  it('has the variance theory predicts for each probe distribution', async () => {
    // Rademacher: 2(||A||_F² - Σ a_ii²); Gaussian: 2||A||_F².
    const rad = await hutchinson(op, { probes: 3000, seed: 1 });
    const gauss = await hutchinson(op, { probes: 3000, seed: 1, distribution: 'gaussian' });
    expect(sampleVariance(rad.samples) / rademacherQuadraticVariance(m.matrix, m.n)).toBeGreaterThan(0.85);
    expect(sampleVariance(rad.samples) / rademacherQuadraticVariance(m.matrix, m.n)).toBeLessThan(1.15);
    expect(sampleVariance(gauss.samples) / (2 * frobeniusSquared(m.matrix))).toBeGreaterThan(0.85);
    expect(sampleVariance(gauss.samples) / (2 * frobeniusSquared(m.matrix))).toBeLessThan(1.15);
    expect(rad.standardError).toBeCloseTo(Math.sqrt(sampleVariance(rad.samples) / 3000), 12);
    expect(Math.abs(rad.estimate - trace)).toBeLessThan(4 * rad.standardError);
  });

  it('is exact on a diagonal matrix with Rademacher probes', async () => {
    const d = [3, -1, 0.5, 2];
    const r = await hutchinson(diagonalOperator(d), { probes: 5, seed: 3 });
    expect(r.estimate).toBeCloseTo(4.5, 6);
    expect(r.standardError).toBeCloseTo(0, 6);
  });

  it('gives the same samples whatever the block size, and batches through matmat', async () => {
    const counted = countingOperator(op);
    const a = await hutchinson(counted, { probes: 23, seed: 4, blockSize: 1 });
    expect(counted.matmatCalls).toBe(0);
    counted.reset();
    const b = await hutchinson(counted, { probes: 23, seed: 4, blockSize: 7 });
    expect(counted.matmatCalls).toBe(4);
    expect(b.samples).toEqual(a.samples);
    expect(b.products).toBe(23);
    expect(b.options).toEqual({ probes: 23, distribution: 'rademacher', tol: null, seed: 4, blockSize: 7 });
  });

  it("applies PyHessian's stopping rule at the first small relative change of the mean", async () => {
    const r = await hutchinson(op, { probes: 100, tol: 1e-2, seed: 5, blockSize: 1 });
    expect(r.stoppedByTol).toBe(true);
    const s = Array.from(r.samples);
    const means = s.map((_, i) => meanOf(s.slice(0, i + 1)));
    const rule = (i: number): boolean => Math.abs(means[i]! - (i === 0 ? 0 : means[i - 1]!)) / (Math.abs(i === 0 ? 0 : means[i - 1]!) + 1e-6) < 1e-2;
    expect(rule(s.length - 1)).toBe(true);
    for (let i = 0; i < s.length - 1; i++) expect(rule(i)).toBe(false);
    expect(r.products).toBe(s.length);
    // With blocks, the products past the stop are spent but not used.
    const blocked = await hutchinson(op, { probes: 100, tol: 1e-2, seed: 5, blockSize: 8 });
    expect(blocked.samples).toEqual(r.samples);
    expect(blocked.products).toBe(Math.ceil(s.length / 8) * 8);
  });

  it('stops on abort with the samples so far', async () => {
    const controller = new AbortController();
    const r = await hutchinson(op, { probes: 50, blockSize: 2, seed: 6, signal: controller.signal, onProgress: (p) => p.done >= 6 && controller.abort() });
    expect(r.aborted).toBe(true);
    expect(r.samples).toHaveLength(6);
    expect(r.estimate).toBeCloseTo(meanOf(r.samples), 12);
  });

  it('rejects bad options', async () => {
    await expect(hutchinson(op, { probes: 0 })).rejects.toThrow(OptionError);
    await expect(hutchinson(op, { distribution: 'uniform' as 'gaussian' })).rejects.toThrow(OptionError);
    await expect(hutchinson(op, { seed: 1.5 })).rejects.toThrow(OptionError);
  });
});
