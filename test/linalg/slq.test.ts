import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { denseOperator, densityOnGrid, slq, spectralMoment, symmetricWithSpectrum, type LinearOperator } from '../../src/linalg/index.js';
import { dot64, exactTrace, frobeniusSquared, linspace, matvec64, rademacherQuadraticVariance, square } from './fixtures.js';

/** An operator that remembers every vector it was applied to. */
function recording(op: LinearOperator): LinearOperator & { seen: Float32Array[] } {
  const seen: Float32Array[] = [];
  return { size: op.size, seen, matvec: async (v) => (seen.push(Float32Array.from(v)), op.matvec(v)) };
}

describe('slq', () => {
  const n = 120;
  const m = symmetricWithSpectrum([...linspace(-1, 3, n - 2), 8, 12], 51);
  const op = denseOperator(m.matrix, n);

  it('gives per run Ritz weights that sum to 1 and nodes inside the spectrum', async () => {
    const r = await slq(op, { steps: 30, probes: 4, seed: 1 });
    expect(r.runs).toHaveLength(4);
    for (const run of r.runs) {
      expect(run.steps).toBe(30);
      expect(run.nodes).toHaveLength(30);
      expect(run.weights.reduce((a, b) => a + b)).toBeCloseTo(1, 10);
      run.weights.forEach((w) => expect(w).toBeGreaterThanOrEqual(0));
      run.nodes.forEach((x) => {
        expect(x).toBeGreaterThan(-1 - 1e-6);
        expect(x).toBeLessThan(12 + 1e-6);
      });
    }
    expect(r.products).toBe(120);
    expect(r.options).toEqual({ steps: 30, probes: 4, seed: 1, reorthogonalize: 'full', blockSize: 1, keepBasis: false });
    expect(r.dimension).toBe(n);
  });

  it('is Gauss quadrature: Σ w θ and Σ w θ² equal vᵀAv and ||Av||² for the run’s probe', async () => {
    const rec = recording(op);
    const r = await slq(rec, { steps: 10, probes: 1, seed: 2 });
    const v = rec.seen[0]!;
    expect(dot64(v, v)).toBeCloseTo(1, 6);
    v.forEach((x) => expect(Math.abs(Math.abs(x) - 1 / Math.sqrt(n))).toBeLessThan(1e-7));
    const av = matvec64(m.matrix, n, v);
    expect(spectralMoment(r, 1)).toBeCloseTo(dot64(v, av), 5);
    expect(spectralMoment(r, 2)).toBeCloseTo(dot64(av, av), 4);
  });

  it('has spectral moments within Hutchinson error bands of tr(A)/n and tr(A²)/n', async () => {
    const probes = 60;
    const r = await slq(op, { steps: 20, probes, seed: 3 });
    const a2 = square(m.matrix, n);
    // v = z/√n with Rademacher z: Σ w θ^p = zᵀA^p z / n, whose variance is the Hutchinson one / n².
    const se1 = Math.sqrt(rademacherQuadraticVariance(m.matrix, n) / probes) / n;
    const se2 = Math.sqrt(rademacherQuadraticVariance(a2, n) / probes) / n;
    expect(Math.abs(spectralMoment(r, 1) - exactTrace(m.matrix, n) / n)).toBeLessThan(4 * se1);
    expect(Math.abs(spectralMoment(r, 2) - frobeniusSquared(m.matrix) / n)).toBeLessThan(4 * se2);
  });

  // A few outliers and a narrow bulk, the shape of a trained network's Hessian: the bulk's
  // couplings are ~1e-5 of ||A||, far above float32 rounding, so no run may stop in it.
  it.each([
    ['outliers {100, 50, 20}, bulk of 397 in [-0.01, 0.01]', [100, 50, 20], -0.01, 0.01, 397],
    ['outlier 1000, bulk of 399 in [-0.02, 0.05]', [1000], -0.02, 0.05, 399],
  ])('runs every step on %s and reaches both edges of the spectrum', async (_, outliers, lo, hi, bulk) => {
    const spectrum = [...outliers, ...linspace(lo, hi, bulk)];
    const d = symmetricWithSpectrum(spectrum, 57);
    const r = await slq(denseOperator(d.matrix, d.n), { steps: 80, seed: 10 });
    const run = r.runs[0]!;
    expect(run.steps).toBe(80);
    expect(r.products).toBe(80);
    expect(run.nodes).toHaveLength(80);
    expect(run.breakdown).toBe(false);
    expect(run.restarts).toBe(0);
    const width = hi - lo;
    expect(Math.abs(run.nodes[0]! - lo)).toBeLessThan(0.01 * width);
    expect(Math.abs(run.nodes[79]! - Math.max(...outliers))).toBeLessThan(0.01 * width);
  });

  it('at a true breakdown keeps the exact quadrature and restarts with fresh vectors for the remaining steps', async () => {
    const distinct = [-2, 0.5, 1, 3, 7];
    const spectrum = distinct.flatMap((x, i) => new Array(4 + 3 * i).fill(x));
    const d = symmetricWithSpectrum(spectrum, 52);
    const rec = recording(denseOperator(d.matrix, d.n));
    const r = await slq(rec, { steps: 20, seed: 4 });
    const run = r.runs[0]!;
    expect(run.breakdown).toBe(true);
    expect(run.steps).toBe(20);
    expect(r.products).toBe(20);
    // the probe's Krylov space has dimension 5, and so has each fresh vector's
    expect(run.restarts).toBe(3);
    // every vector of the run is orthonormal to the others, restart vectors included
    for (let i = 0; i < 20; i++) {
      for (let j = 0; j <= i; j++) expect(Math.abs(dot64(rec.seen[i]!, rec.seen[j]!) - (i === j ? 1 : 0))).toBeLessThan(1e-5);
    }
    // the weights are the probe's squared projections on the eigenspaces: all of it on the first
    // block's nodes (the exact eigenvalues), none on the nodes the restarts found
    const v = rec.seen[0]!;
    let offset = 0;
    distinct.forEach((x, i) => {
      const count = 4 + 3 * i;
      let w = 0;
      for (let j = offset; j < offset + count; j++) w += dot64(v, d.eigenvectors[j]!) ** 2;
      offset += count;
      let weightAtX = 0;
      run.nodes.forEach((t, k) => {
        if (Math.abs(t - x) < 1e-5) weightAtX += run.weights[k]!;
      });
      expect(weightAtX).toBeCloseTo(w, 6);
    });
    run.nodes.forEach((t) => expect(Math.min(...distinct.map((x) => Math.abs(t - x)))).toBeLessThan(1e-5));
    expect(run.weights.reduce((a, b) => a + b)).toBeCloseTo(1, 10);
    expect(run.weights.filter((w) => w > 0)).toHaveLength(5);
  });

  it('on a matrix of small rank restarts once per step after the probe’s space closes, and stops when steps exceed the size', async () => {
    const low = symmetricWithSpectrum([3, 2, -1, 0.5, ...new Array(56).fill(0)], 53);
    const r = await slq(denseOperator(low.matrix, low.n), { steps: 30, seed: 5 });
    const run = r.runs[0]!;
    // the probe sees the four eigenvalues and its own null-space component; every fresh vector
    // orthogonal to those lies in the null space, where the next product is rounding noise
    expect(run.steps).toBe(30);
    expect(run.breakdown).toBe(true);
    expect(run.restarts).toBe(25);
    const weighted = [...run.nodes].filter((_, i) => run.weights[i]! > 0);
    expect(weighted).toHaveLength(5);
    [-1, 0, 0.5, 2, 3].forEach((x, i) => expect(weighted[i]).toBeCloseTo(x, 5));
    run.nodes.forEach((x, i) => run.weights[i] === 0 && expect(Math.abs(x)).toBeLessThan(1e-5));
    const tiny = symmetricWithSpectrum([1, 2, 3, 4, 5, 6], 54);
    const t = await slq(denseOperator(tiny.matrix, tiny.n), { steps: 20, seed: 5 });
    expect(t.runs[0]!.steps).toBe(6);
    expect(t.runs[0]!.restarts).toBe(0);
    t.runs[0]!.nodes.forEach((x, i) => expect(x).toBeCloseTo(i + 1, 5));
  });

  it('without reorthogonalisation stops at its first breakdown (no basis to restart against)', async () => {
    const distinct = [-2, 0.5, 1, 3, 7];
    const d = symmetricWithSpectrum(distinct.flatMap((x) => new Array(20).fill(x)), 58);
    const r = await slq(denseOperator(d.matrix, d.n), { steps: 20, seed: 4, reorthogonalize: 'none' });
    const run = r.runs[0]!;
    expect(run.steps).toBe(5);
    expect(run.breakdown).toBe(true);
    expect(run.restarts).toBe(0);
    run.nodes.forEach((x, i) => expect(x).toBeCloseTo(distinct[i]!, 5));
  });

  it('batches runs through matmat without changing them', async () => {
    const a = await slq(op, { steps: 15, probes: 3, seed: 6 });
    const b = await slq(op, { steps: 15, probes: 3, seed: 6, blockSize: 3 });
    expect(b.runs).toEqual(a.runs);
  });

  it("without reorthogonalisation shows ghost copies of a converged outlier, and says so", async () => {
    const spiky = symmetricWithSpectrum([...linspace(0, 1, 198), 50, 100], 55);
    const o = denseOperator(spiky.matrix, spiky.n);
    const countNear = (xs: Float64Array, x: number): number => xs.filter((t) => Math.abs(t - x) < 1e-2 * x).length;
    const full = await slq(o, { steps: 120, seed: 7 });
    const none = await slq(o, { steps: 120, seed: 7, reorthogonalize: 'none' });
    expect(none.options.reorthogonalize).toBe('none');
    expect(countNear(full.runs[0]!.nodes, 100)).toBe(1);
    expect(countNear(none.runs[0]!.nodes, 100)).toBeGreaterThan(1);
    expect(none.runs[0]!.weights.reduce((a, b) => a + b)).toBeCloseTo(1, 8);
  });

  it('stops on abort keeping the partial runs, and rejects bad options', async () => {
    const controller = new AbortController();
    const r = await slq(op, { steps: 20, probes: 3, seed: 8, signal: controller.signal, onProgress: (p) => p.done === 25 && controller.abort() });
    expect(r.aborted).toBe(true);
    expect(r.runs.map((x) => x.steps)).toEqual([20, 5]);
    await expect(slq(op, { reorthogonalize: 'partial' as 'full' })).rejects.toThrow(OptionError);
    await expect(slq(op, { steps: 0 })).rejects.toThrow(OptionError);
  });
});

describe('densityOnGrid', () => {
  it("reproduces PyHessian's grid and Gaussian width", () => {
    const runs = [
      { nodes: Float64Array.of(-1, 0, 2), weights: Float64Array.of(0.2, 0.5, 0.3), steps: 3, breakdown: false, restarts: 0 },
      { nodes: Float64Array.of(-0.5, 3), weights: Float64Array.of(0.6, 0.4), steps: 2, breakdown: false, restarts: 0 },
    ];
    const d = densityOnGrid(runs);
    expect(d.grid).toHaveLength(10000);
    expect(d.lambdaMin).toBeCloseTo((-1 + -0.5) / 2 - 0.01, 12);
    expect(d.lambdaMax).toBeCloseTo((2 + 3) / 2 + 0.01, 12);
    expect(d.grid[0]).toBe(d.lambdaMin);
    expect(d.grid[9999]).toBeCloseTo(d.lambdaMax, 12);
    expect(d.sigmaSquared).toBeCloseTo(1e-5 * (d.lambdaMax - d.lambdaMin), 15);
    // At a node far from the others the density is that node's Gaussian peak, averaged over runs.
    const i = Math.round((0 - d.lambdaMin) / (d.grid[1]! - d.grid[0]!));
    const x = d.grid[i]!;
    const peak = (0.5 * Math.exp(-(x * x) / (2 * d.sigmaSquared))) / Math.sqrt(2 * Math.PI * d.sigmaSquared) / 2;
    expect(d.density[i]! * d.mass).toBeCloseTo(peak, 6);
  });

  it('takes the extent of a run with 300,000 nodes (spreading them into Math.max overflows the stack)', () => {
    const n = 300_000;
    const nodes = Float64Array.from({ length: n }, (_, i) => -2 + (5 * i) / (n - 1));
    const d = densityOnGrid([{ nodes, weights: new Float64Array(n).fill(1 / n), steps: n, breakdown: false, restarts: 0 }], { gridPoints: 100 });
    expect(d.lambdaMin).toBeCloseTo(-2 - 0.01, 12);
    expect(d.lambdaMax).toBeCloseTo(3 + 0.01, 12);
  });

  it('integrates to 1 and keeps almost all the mass on its grid', async () => {
    const m = symmetricWithSpectrum(linspace(-1, 3, 80), 56);
    const r = await slq(denseOperator(m.matrix, 80), { steps: 25, probes: 3, seed: 9 });
    const d = densityOnGrid(r);
    let trapezoid = 0;
    for (let i = 1; i < d.grid.length; i++) trapezoid += 0.5 * (d.density[i]! + d.density[i - 1]!) * (d.grid[i]! - d.grid[i - 1]!);
    expect(trapezoid).toBeCloseTo(1, 3);
    expect(d.mass).toBeGreaterThan(0.9);
    expect(d.mass).toBeLessThan(1 + 1e-9);
    expect(d.options).toEqual({ gridPoints: 10000, sigmaSquared: 1e-5, overhead: 0.01 });
  });

  it('rejects an empty result', () => {
    expect(() => densityOnGrid([])).toThrow(OptionError);
  });
});
