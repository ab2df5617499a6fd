import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { denseOperator, diagonalOperator, hutchinson, hutchinsonDiagonal, symmetricWithSpectrum } from '../../src/linalg/index.js';
import { diagonalOf, exactTrace, linspace, meanOf, sampleVariance } from './fixtures.js';

const m = symmetricWithSpectrum(linspace(-1, 4, 40), 41);
const op = denseOperator(m.matrix, m.n);
const diag = diagonalOf(m.matrix, m.n);

describe('hutchinsonDiagonal', () => {
  it('converges to the true diagonal, each entry within its reported standard error', async () => {
    const r = await hutchinsonDiagonal(op, { probes: 2000, seed: 1 });
    const z = Array.from(r.diagonal, (d, i) => (d - diag[i]!) / r.standardErrors[i]!);
    z.forEach((zi) => expect(Math.abs(zi)).toBeLessThan(4.5));
    // The standard errors are honest: the z-scores have unit spread.
    const rms = Math.sqrt(meanOf(z.map((x) => x * x)));
    expect(rms).toBeGreaterThan(0.7);
    expect(rms).toBeLessThan(1.3);
    const maxErr = Math.max(...Array.from(r.diagonal, (d, i) => Math.abs(d - diag[i]!)));
    const fewer = await hutchinsonDiagonal(op, { probes: 50, seed: 1 });
    const maxErrFewer = Math.max(...Array.from(fewer.diagonal, (d, i) => Math.abs(d - diag[i]!)));
    expect(maxErr).toBeLessThan(maxErrFewer);
  });

  it('is exact on a diagonal operator with Rademacher probes', async () => {
    const r = await hutchinsonDiagonal(diagonalOperator([2, -3, 0.25]), { probes: 3, seed: 2 });
    expect(Array.from(r.diagonal)).toEqual([2, -3, 0.25]);
  });

  it('sums to the Hutchinson trace estimate of the same probes', async () => {
    const d = await hutchinsonDiagonal(op, { probes: 37, seed: 3 });
    const h = await hutchinson(op, { probes: 37, seed: 3 });
    expect(d.trace).toBeCloseTo(h.estimate, 8);
    expect(d.traceStandardError).toBeCloseTo(h.standardError, 8);
  });

  it('estimates block traces without bias, with standard errors that match the spread', async () => {
    const blocks = [
      { name: 'first', offset: 0, length: 10 },
      { name: 'middle', offset: 10, length: 25 },
      { name: 'last', offset: 35, length: 5 },
    ];
    const exact = blocks.map((b) => diag.slice(b.offset, b.offset + b.length).reduce((a, c) => a + c, 0));
    const perSeed: number[][] = blocks.map(() => []);
    const reportedSe: number[][] = blocks.map(() => []);
    for (let seed = 0; seed < 150; seed++) {
      const r = await hutchinsonDiagonal(op, { probes: 8, seed, blocks });
      r.blocks.forEach((b, i) => {
        expect(b.name).toBe(blocks[i]!.name);
        perSeed[i]!.push(b.trace);
        reportedSe[i]!.push(b.standardError);
      });
    }
    blocks.forEach((_, i) => {
      const spread = Math.sqrt(sampleVariance(perSeed[i]!));
      expect(Math.abs(meanOf(perSeed[i]!) - exact[i]!)).toBeLessThan((4 * spread) / Math.sqrt(150));
      const reported = Math.sqrt(meanOf(reportedSe[i]!.map((s) => s * s)));
      expect(reported / spread).toBeGreaterThan(0.75);
      expect(reported / spread).toBeLessThan(1.25);
    });
    expect(exact.reduce((a, b) => a + b)).toBeCloseTo(exactTrace(m.matrix, m.n), 10);
  });

  it('rejects blocks outside the vector', async () => {
    await expect(hutchinsonDiagonal(op, { blocks: [{ name: 'fc.weight', offset: 30, length: 20 }] })).rejects.toThrow(/fc\.weight/);
    await expect(hutchinsonDiagonal(op, { blocks: [{ name: 'x', offset: -1, length: 2 }] })).rejects.toThrow(OptionError);
  });
});
