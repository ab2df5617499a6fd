import { OptionError } from '../errors.js';
import { checkInteger, checkPositive } from './options.js';
import type { SlqResult, SlqRun } from './slq.js';

export interface DensityGridOptions {
  /** Default 10000 (PyHessian's num_bins). */
  gridPoints?: number;
  /** The Gaussian's variance before scaling by max(1, λmax - λmin). Default 1e-5 (PyHessian). */
  sigmaSquared?: number;
  /** Added beyond the mean extreme nodes on each side. Default 0.01 (PyHessian). */
  overhead?: number;
}

export interface DensityOnGrid {
  grid: Float64Array;
  density: Float64Array;
  /** The variance of each Gaussian actually used. */
  sigmaSquared: number;
  lambdaMin: number;
  lambdaMax: number;
  /** The Riemann sum of the density before normalisation (about 1 when the grid holds the mass). */
  mass: number;
  options: Required<DensityGridOptions>;
}

/**
 * PyHessian's `density_generate`: the grid runs from the mean over runs of the smallest node minus
 * `overhead` to the mean largest node plus `overhead`; each node carries a Gaussian of variance
 * sigmaSquared · max(1, λmax - λmin) weighted by its weight; runs are averaged; the result is
 * divided by its Riemann sum Σ density · Δx so it integrates to 1.
 */
export function densityOnGrid(result: SlqResult | readonly SlqRun[], options: DensityGridOptions = {}): DensityOnGrid {
  const runs = 'runs' in result ? result.runs : result;
  const gridPoints = checkInteger('gridPoints', options.gridPoints ?? 10000, 2);
  const sigmaSquaredBase = checkPositive('sigmaSquared', options.sigmaSquared ?? 1e-5);
  const overhead = checkPositive('overhead', options.overhead ?? 0.01, true);
  if (runs.length === 0 || runs.some((r) => r.nodes.length === 0)) {
    throw new OptionError('densityOnGrid needs at least one SLQ run with nodes; run slq with probes >= 1');
  }
  let maxMean = 0;
  let minMean = 0;
  for (const r of runs) {
    // a loop, not Math.max(...nodes): spreading a long run's nodes overflows the call stack
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of r.nodes) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    maxMean += hi;
    minMean += lo;
  }
  const lambdaMax = maxMean / runs.length + overhead;
  const lambdaMin = minMean / runs.length - overhead;
  const grid = new Float64Array(gridPoints);
  const step = (lambdaMax - lambdaMin) / (gridPoints - 1);
  for (let i = 0; i < gridPoints; i++) grid[i] = lambdaMin + i * step;
  const sigmaSquared = sigmaSquaredBase * Math.max(1, lambdaMax - lambdaMin);
  const norm = 1 / Math.sqrt(2 * Math.PI * sigmaSquared);
  const density = new Float64Array(gridPoints);
  for (const r of runs) {
    for (let i = 0; i < gridPoints; i++) {
      const x = grid[i]!;
      let s = 0;
      for (let j = 0; j < r.nodes.length; j++) {
        const d = x - r.nodes[j]!;
        s += r.weights[j]! * Math.exp(-(d * d) / (2 * sigmaSquared));
      }
      density[i] = density[i]! + (s * norm) / runs.length;
    }
  }
  let total = 0;
  for (let i = 0; i < gridPoints; i++) total += density[i]!;
  const mass = total * step;
  if (mass > 0) for (let i = 0; i < gridPoints; i++) density[i] = density[i]! / mass;
  return { grid, density, sigmaSquared, lambdaMin, lambdaMax, mass, options: { gridPoints, sigmaSquared: sigmaSquaredBase, overhead } };
}

/** The quadrature's estimate of (1/n) tr(A^p): Σ w θ^p averaged over runs. */
export function spectralMoment(result: SlqResult | readonly SlqRun[], power: number): number {
  const runs = 'runs' in result ? result.runs : result;
  let total = 0;
  for (const r of runs) {
    let s = 0;
    for (let j = 0; j < r.nodes.length; j++) s += r.weights[j]! * r.nodes[j]! ** power;
    total += s;
  }
  return total / runs.length;
}
