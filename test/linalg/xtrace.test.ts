import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { denseOperator, hutchinson, symmetricWithSpectrum, xtrace, type LinearOperator } from '../../src/linalg/index.js';
import { dot64, exactTrace, linspace, matvec64, meanOf, sampleVariance } from './fixtures.js';

/** Modified Gram-Schmidt in float64: an orthonormal basis of the columns. */
function orth(cols: Float64Array[]): Float64Array[] {
  const q: Float64Array[] = [];
  for (const c of cols) {
    const v = Float64Array.from(c);
    for (const u of q) {
      const d = dot64(u, v);
      for (let i = 0; i < v.length; i++) v[i] = v[i]! - d * u[i]!;
    }
    const len = Math.sqrt(dot64(v, v));
    q.push(v.map((x) => x / len));
  }
  return q;
}

/** The leave-one-out Hutch++ estimates of the probes, by brute force in float64. */
function bruteLeaveOneOut(a: Float64Array, n: number, omegas: Float64Array[]): number[] {
  return omegas.map((omega, i) => {
    const q = orth(omegas.filter((_, j) => j !== i).map((w) => matvec64(a, n, w)));
    let t = 0;
    for (const u of q) t += dot64(u, matvec64(a, n, u));
    const x = Float64Array.from(omega);
    for (const u of q) {
      const d = dot64(u, omega);
      for (let k = 0; k < n; k++) x[k] = x[k]! - d * u[k]!;
    }
    return t + dot64(x, matvec64(a, n, x));
  });
}

async function recordedRun(spectrum: number[], seed: number, products: number) {
  const m = symmetricWithSpectrum(spectrum, seed);
  const dense = denseOperator(m.matrix, m.n);
  const seen: Float32Array[] = [];
  const rec: LinearOperator = { size: m.n, matvec: async (v) => (seen.push(Float32Array.from(v)), dense.matvec(v)) };
  const r = await xtrace(rec, { products, seed: 2 });
  return { m, r, omegas: seen.slice(0, products / 2).map((v) => Float64Array.from(v)) };
}

describe('xtrace', () => {
  it('is the mean of the leave-one-out Hutch++ estimates, computed by brute force', async () => {
    const { m, r, omegas } = await recordedRun(linspace(-1, 3, 30), 61, 10);
    const loo = bruteLeaveOneOut(m.matrix, m.n, omegas);
    loo.forEach((e, i) => expect(r.leaveOneOut[i]).toBeCloseTo(e, 4));
    expect(r.estimate).toBeCloseTo(meanOf(loo), 4);
    expect(r.standardError).toBeCloseTo(Math.sqrt(sampleVariance(loo) / loo.length), 4);
    expect(r.products).toBe(10);
  });

  it('has the jackknife standard error of XTrace on the probes left out one at a time, by brute force', async () => {
    const { m, r, omegas } = await recordedRun(linspace(-1, 3, 30), 65, 12);
    const p = omegas.length;
    const theta = omegas.map((_, i) => meanOf(bruteLeaveOneOut(m.matrix, m.n, omegas.filter((_, j) => j !== i))));
    const mean = meanOf(theta);
    const jackknife = Math.sqrt(((p - 1) / p) * theta.reduce((s, t) => s + (t - mean) ** 2, 0));
    expect(Math.abs(r.jackknifeStandardError - jackknife)).toBeLessThan(1e-4 * jackknife);
    expect(r.errorEstimate).toMatch(/leave-one-out.*optimistic/);
  });

  it('brackets its error: ±2 leave-one-out SE cover the trace too rarely, ±2 jackknife SE always nearly', async () => {
    // The coverage the docs and errorEstimate state, on a decaying spectrum over 400 seeds.
    const spectrum = Array.from({ length: 60 }, (_, i) => 1 / (i + 1));
    const m = symmetricWithSpectrum(spectrum, 66);
    const op = denseOperator(m.matrix, m.n);
    const trace = exactTrace(m.matrix, m.n);
    let loo = 0;
    let jack = 0;
    for (let seed = 0; seed < 400; seed++) {
      const r = await xtrace(op, { products: 20, seed });
      if (Math.abs(r.estimate - trace) <= 2 * r.standardError) loo++;
      if (Math.abs(r.estimate - trace) <= 2 * r.jackknifeStandardError) jack++;
    }
    expect(loo / 400).toBeGreaterThan(0.75);
    expect(loo / 400).toBeLessThan(0.92);
    expect(jack / 400).toBeGreaterThan(0.95);
  });

  it('is unbiased over many seeds on an indefinite matrix', async () => {
    const m = symmetricWithSpectrum(linspace(-2, 5, 60), 62);
    const op = denseOperator(m.matrix, m.n);
    const estimates: number[] = [];
    for (let seed = 0; seed < 150; seed++) estimates.push((await xtrace(op, { products: 12, seed })).estimate);
    const se = Math.sqrt(sampleVariance(estimates) / estimates.length);
    expect(Math.abs(meanOf(estimates) - exactTrace(m.matrix, m.n))).toBeLessThan(4 * se);
  });

  it('is exact when the probes outnumber the rank', async () => {
    const m = symmetricWithSpectrum([5, -3, 2, 1, 0.5, ...new Array(75).fill(0)], 63);
    const r = await xtrace(denseOperator(m.matrix, m.n), { products: 30, seed: 1 });
    expect(r.sketchRank).toBe(5);
    expect(r.estimate).toBeCloseTo(5.5, 4);
    expect(r.products).toBe(15 + 5);
  });

  it('beats Hutchinson at an equal budget on a decaying spectrum', async () => {
    const n = 120;
    const spectrum = Array.from({ length: n }, (_, i) => 1 / (i + 1));
    const m = symmetricWithSpectrum(spectrum, 64);
    const op = denseOperator(m.matrix, n);
    const trace = spectrum.reduce((a, b) => a + b);
    let mseX = 0;
    let mseH = 0;
    for (let seed = 0; seed < 30; seed++) {
      mseX += ((await xtrace(op, { products: 30, seed })).estimate - trace) ** 2;
      mseH += ((await hutchinson(op, { probes: 30, seed })).estimate - trace) ** 2;
    }
    expect(mseX * 3).toBeLessThan(mseH);
  });

  it('requires an even budget', async () => {
    const op = denseOperator([[1, 0], [0, 1]]);
    await expect(xtrace(op, { products: 9 })).rejects.toThrow(OptionError);
    await expect(xtrace(op, { products: 2 })).rejects.toThrow(OptionError);
  });
});
