import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { confirmedRitzPairs, countingOperator, denseOperator, hutchinson, projectedTrace, ritzPairs, slq, symmetricWithSpectrum } from '../../src/linalg/index.js';
import { dot64, exactTrace, linspace, matvec64, meanOf, sampleVariance } from './fixtures.js';

// a trained network's shape: a few outliers over a narrow bulk
const outliers = [100, 50, 20, ...linspace(-0.5, 1, 197)];
const d = symmetricWithSpectrum(outliers, 3);
const op = denseOperator(d.matrix, d.n);
const exact = exactTrace(d.matrix, d.n);

async function basisOf(steps: number, seed = 99) {
  const s = await slq(op, { steps, seed, keepBasis: true });
  return s.runs[0]!.krylov!;
}

describe('reusing a Lanczos run (slq keepBasis)', () => {
  it('keeps an orthonormal basis whose alphas are q_jᵀ A q_j, so tr(QᵀAQ) is their sum', async () => {
    const k = await basisOf(30);
    expect(k.basis).toHaveLength(30);
    expect(k.alphas).toHaveLength(30);
    expect(k.betas).toHaveLength(29);
    let worst = 0;
    let qaq = 0;
    for (let i = 0; i < 30; i++) {
      for (let j = 0; j <= i; j++) worst = Math.max(worst, Math.abs(dot64(k.basis[i]!, k.basis[j]!) - (i === j ? 1 : 0)));
      const aq = matvec64(d.matrix, d.n, k.basis[i]!);
      const a = dot64(k.basis[i]!, aq);
      // float32 vectors, float64 oracle: rounding of the stored basis only
      expect(Math.abs(k.alphas[i]! - a)).toBeLessThan(1e-5 * 100);
      qaq += a;
    }
    expect(worst).toBeLessThan(1e-5);
    expect(Math.abs(projectedTrace(k) - qaq)).toBeLessThan(1e-6 * Math.abs(qaq) + 1e-4);
    // keeping the basis changes nothing else
    const plain = await slq(op, { steps: 30, seed: 99 });
    expect(plain.runs[0]!.nodes).toEqual((await slq(op, { steps: 30, seed: 99, keepBasis: true })).runs[0]!.nodes);
    expect(plain.runs[0]!.krylov).toBeUndefined();
  });

  it('refuses keepBasis without full reorthogonalisation, which stores no basis', async () => {
    await expect(slq(op, { steps: 5, reorthogonalize: 'none', keepBasis: true })).rejects.toThrow(/keepBasis/);
  });

  it('gives the top Ritz pairs, and confirms them with one real product each', async () => {
    const k = await basisOf(40);
    const r = ritzPairs(k, 2);
    expect(Math.abs(r.values[0]! - 100) / 100).toBeLessThan(1e-8);
    expect(Math.abs(r.values[1]! - 50) / 50).toBeLessThan(1e-8);
    const counted = countingOperator(op);
    const c = await confirmedRitzPairs(counted, k, { k: 2, tol: 1e-4 });
    expect(counted.products).toBe(2);
    expect(c.products).toBe(2);
    expect(c.converged).toEqual([true, true]);
    // the residual is measured: ||A x - θ x|| in float64 against the dense matrix
    const x = c.eigenvectors[0]!;
    const ax = matvec64(d.matrix, d.n, x);
    const theta = dot64(x, ax) / dot64(x, x);
    let r2 = 0;
    for (let i = 0; i < d.n; i++) r2 += (ax[i]! - theta * x[i]!) ** 2;
    expect(Math.abs(c.eigenvalues[0]! - theta)).toBeLessThan(1e-5 * 100);
    expect(Math.abs(c.residualNorms[0]! - Math.sqrt(r2))).toBeLessThan(1e-4);
    expect(c.residualNorms[0]!).toBeLessThan(1e-4 * 100);
  });

  it('says when a short run has not converged, so that the caller runs Lanczos itself', async () => {
    // close top eigenvalues: three steps cannot separate them
    const close = symmetricWithSpectrum([10, 9.99, 9.98, ...linspace(0, 1, 57)], 4);
    const cop = denseOperator(close.matrix, close.n);
    const k = (await slq(cop, { steps: 3, seed: 1, keepBasis: true })).runs[0]!.krylov!;
    const c = await confirmedRitzPairs(cop, k, { k: 1, tol: 1e-4 });
    expect(c.converged).toEqual([false]);
    expect(c.residualNorms[0]! / c.eigenvalues[0]!).toBeGreaterThan(1e-4);
  });
});

describe('hutchinson deflated by a Krylov basis', () => {
  it('is exact when the basis spans the whole space', async () => {
    const small = symmetricWithSpectrum(linspace(-3, 7, 24), 8);
    const sop = denseOperator(small.matrix, small.n);
    const k = (await slq(sop, { steps: 24, seed: 2, keepBasis: true })).runs[0]!.krylov!;
    const h = await hutchinson(sop, { probes: 5, seed: 0, deflation: { basis: k.basis, projectedTrace: projectedTrace(k) } });
    const t = exactTrace(small.matrix, small.n);
    expect(Math.abs(h.estimate - t)).toBeLessThan(1e-5 * 7 * 24);
    for (const s of h.samples) expect(Math.abs(s)).toBeLessThan(1e-4);
    expect(h.options.deflatedBy).toBe(24);
  });

  it('is unbiased for a fixed basis, with a far smaller spread than plain Hutchinson on outliers', async () => {
    const k = await basisOf(20);
    const deflation = { basis: k.basis, projectedTrace: projectedTrace(k) };
    const estimates: number[] = [];
    for (let seed = 0; seed < 200; seed++) estimates.push((await hutchinson(op, { probes: 5, seed, deflation })).estimate);
    const se = Math.sqrt(sampleVariance(estimates) / estimates.length);
    expect(Math.abs(meanOf(estimates) - exact)).toBeLessThan(4 * se);
    const plain = await hutchinson(op, { probes: 400, seed: 5 });
    const deflated = await hutchinson(op, { probes: 400, seed: 5, deflation });
    // the outliers (most of the Frobenius norm) lie in the basis: the spread falls by far more than 3x
    expect(deflated.standardError).toBeLessThan(plain.standardError / 3);
    expect(Math.abs(deflated.estimate - exact)).toBeLessThan(4 * deflated.standardError);
  });

  it('draws its probes from a stream the same seed does not give slq, so a basis from that seed stays independent', async () => {
    const k = await basisOf(20, 0);
    const h = await hutchinson(op, { probes: 4, seed: 0, deflation: { basis: k.basis, projectedTrace: projectedTrace(k) } });
    // slq's first vector with seed 0 is Hutchinson's first probe with seed 0: deflated, it would vanish
    for (const s of h.samples) expect(Math.abs(s)).toBeGreaterThan(1e-3);
  });

  // 400 fixed seeds of probes against one basis per seed block, so the test is deterministic.
  it('with targetRse, ±2 reported standard errors hold the trace in 364-392 of 400 seeds', async () => {
    const bulk = symmetricWithSpectrum([30, 10, 5, ...linspace(-0.5, 1, 147)], 5);
    const bop = denseOperator(bulk.matrix, bulk.n);
    const t = exactTrace(bulk.matrix, bulk.n);
    let covered = 0;
    let probes = 0;
    for (let seed = 0; seed < 400; seed++) {
      const k = (await slq(bop, { steps: 8, seed: 1000 + seed, keepBasis: true })).runs[0]!.krylov!;
      const r = await hutchinson(bop, { probes: 2000, targetRse: 0.004, seed, blockSize: 8, deflation: { basis: k.basis, projectedTrace: projectedTrace(k) } });
      expect(r.stoppedBy).toBe('target-rse');
      probes += r.samples.length;
      if (Math.abs(r.estimate - t) <= 2 * r.standardError) covered++;
    }
    // the stop comes past the minimum of 30 probes, where the rule's bias matters
    expect(probes / 400).toBeGreaterThan(45);
    expect(covered / 400).toBeGreaterThanOrEqual(0.91);
    expect(covered / 400).toBeLessThanOrEqual(0.98);
  });

  it('rejects a basis of the wrong size and a non-finite known part', async () => {
    await expect(hutchinson(op, { deflation: { basis: [new Float32Array(3)], projectedTrace: 0 } })).rejects.toThrow(OptionError);
    await expect(hutchinson(op, { deflation: { basis: [], projectedTrace: NaN } })).rejects.toThrow(/projectedTrace/);
  });
});
