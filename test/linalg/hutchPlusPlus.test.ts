import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { denseOperator, hutchinson, hutchPlusPlus, symmetricWithSpectrum } from '../../src/linalg/index.js';
import { exactTrace, linspace, meanOf, sampleVariance } from './fixtures.js';

describe('hutchPlusPlus', () => {
  it('is unbiased over many seeds on an indefinite matrix', async () => {
    const m = symmetricWithSpectrum(linspace(-2, 5, 60), 31);
    const op = denseOperator(m.matrix, m.n);
    const estimates: number[] = [];
    for (let seed = 0; seed < 150; seed++) estimates.push((await hutchPlusPlus(op, { products: 12, seed })).estimate);
    const se = Math.sqrt(sampleVariance(estimates) / estimates.length);
    expect(Math.abs(meanOf(estimates) - exactTrace(m.matrix, m.n))).toBeLessThan(4 * se);
  });

  it('is exact when the sketch captures the whole range (rank <= m/3)', async () => {
    const m = symmetricWithSpectrum([5, -3, 2, 1, 0.5, ...new Array(75).fill(0)], 32);
    const r = await hutchPlusPlus(denseOperator(m.matrix, m.n), { products: 30, seed: 1 });
    expect(r.sketchRank).toBe(5);
    expect(r.estimate).toBeCloseTo(5.5, 4);
    expect(Math.abs(r.standardError)).toBeLessThan(1e-4);
    expect(r.products).toBe(10 + 5 + 10);
    expect(r.estimator).toBe('hutch++');
  });

  it('beats Hutchinson at an equal product budget on a decaying spectrum', async () => {
    const n = 150;
    const spectrum = Array.from({ length: n }, (_, i) => 1 / (i + 1));
    const m = symmetricWithSpectrum(spectrum, 33);
    const op = denseOperator(m.matrix, n);
    const trace = spectrum.reduce((a, b) => a + b);
    let mseHutchinson = 0;
    let mseHutchPlusPlus = 0;
    for (let seed = 0; seed < 30; seed++) {
      const h = await hutchinson(op, { probes: 30, seed });
      const p = await hutchPlusPlus(op, { products: 30, seed });
      expect(p.products).toBeLessThanOrEqual(30);
      mseHutchinson += (h.estimate - trace) ** 2;
      mseHutchPlusPlus += (p.estimate - trace) ** 2;
    }
    expect(mseHutchPlusPlus * 3).toBeLessThan(mseHutchinson);
  });

  it('reports a residual standard error that is the whole spread over seeds, the sketch’s randomness included', async () => {
    const m = symmetricWithSpectrum(Array.from({ length: 100 }, (_, i) => 1 / (i + 1)), 34);
    const op = denseOperator(m.matrix, m.n);
    const runs = [];
    for (let seed = 0; seed < 200; seed++) runs.push(await hutchPlusPlus(op, { products: 30, seed }));
    const trace = exactTrace(m.matrix, m.n);
    const rms = Math.sqrt(meanOf(runs.map((r) => (r.estimate - trace) ** 2)));
    const reported = Math.sqrt(meanOf(runs.map((r) => r.standardError ** 2)));
    // E[estimate | sketch] = trace, so the mean reported variance estimates the whole mean squared
    // error; its own spread over 200 seeds is a few percent (measured ratio 0.97).
    expect(reported / rms).toBeGreaterThan(0.85);
    expect(reported / rms).toBeLessThan(1.15);
    expect(runs[0]!.errorEstimate).toMatch(/10 residual probes/);
  });

  it.each([
    { name: 'an indefinite flat spectrum', spectrum: linspace(-2, 5, 60) },
    { name: 'a 1/i spectrum', spectrum: Array.from({ length: 100 }, (_, i) => 1 / (i + 1)) },
    { name: 'three outliers and a bulk', spectrum: [30, 10, 5, ...linspace(-0.5, 1, 97)] },
  ])('±2 standard errors hold the trace in 364-392 of 400 seeds on $name (33 residual probes)', async ({ spectrum }) => {
    const m = symmetricWithSpectrum(spectrum, 36);
    const op = denseOperator(m.matrix, m.n);
    const trace = exactTrace(m.matrix, m.n);
    let covered = 0;
    for (let seed = 0; seed < 400; seed++) {
      const r = await hutchPlusPlus(op, { products: 99, seed, blockSize: 33 });
      if (Math.abs(r.estimate - trace) <= 2 * r.standardError) covered++;
    }
    expect(covered / 400).toBeGreaterThanOrEqual(0.91);
    expect(covered / 400).toBeLessThanOrEqual(0.98);
  });

  it('falls back to the sketch probes as Hutchinson samples when aborted early', async () => {
    const m = symmetricWithSpectrum(linspace(0, 1, 40), 35);
    const controller = new AbortController();
    const r = await hutchPlusPlus(denseOperator(m.matrix, m.n), { products: 30, blockSize: 2, seed: 1, signal: controller.signal, onProgress: (p) => p.done >= 4 && controller.abort() });
    expect(r.aborted).toBe(true);
    expect(r.estimator).toBe('hutchinson');
    expect(r.products).toBe(4);
    expect(Number.isFinite(r.estimate)).toBe(true);
  });

  it('requires a budget divisible by 3', async () => {
    const op = denseOperator([[1, 0], [0, 1]]);
    await expect(hutchPlusPlus(op, { products: 10 })).rejects.toThrow(OptionError);
    await expect(hutchPlusPlus(op, { products: 0 })).rejects.toThrow(OptionError);
  });
});
