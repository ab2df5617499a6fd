import { OptionError } from '../errors.js';
import { Rng } from '../tensor/rng.js';
import type { LinearOperator } from './linearOperator.js';
import { checkInteger, checkSeed } from './options.js';
import { RunContext, type RunOptions, type RunRecord } from './runContext.js';
import { tridiagonalEigen } from './symmetricEigen.js';
import { axpy, dot, norm, normalize, orthogonalize } from './vector.js';

export type Reorthogonalization = 'full' | 'none';

export interface SlqOptions extends RunOptions {
  /** Lanczos steps (products) per probe. Default 100 (PyHessian's iter). */
  steps?: number;
  /** Probe vectors n_v, one Lanczos run each. Default 1 (PyHessian). */
  probes?: number;
  seed?: number;
  /**
   * 'full' (default, as PyHessian) orthogonalises every Lanczos vector against all earlier ones
   * and stores `steps` vectors per run; 'none' keeps the three-term recurrence only (two vectors)
   * and shows the ghost copies of converged eigenvalues that loss of orthogonality brings.
   */
  reorthogonalize?: Reorthogonalization;
  /** Runs advanced together, their products batched through matmat (memory grows with it). Default 1. */
  blockSize?: number;
}

/** One probe's Gauss quadrature: the spectral measure seen from the probe, vᵀ f(A) v ≈ Σ w f(θ). */
export interface SlqRun {
  /** Ritz values of the tridiagonal matrix, ascending (PyHessian's density_eigen row). */
  nodes: Float64Array;
  /** Squared first components of its eigenvectors; they sum to 1 (PyHessian's density_weight row). */
  weights: Float64Array;
  /** Lanczos steps taken: `steps`, or fewer after a breakdown or an abort. */
  steps: number;
  /** The Krylov space became invariant (β ≈ 0): the quadrature is exact for this probe. */
  breakdown: boolean;
}

export interface SlqResult extends RunRecord<Required<Omit<SlqOptions, keyof RunOptions>>> {
  runs: SlqRun[];
  /** The size of the operator (the dimension the density is normalised over). */
  dimension: number;
}

interface LanczosRunState {
  alphas: number[];
  betas: number[];
  current: Float32Array;
  previous: Float32Array | null;
  basis: Float32Array[];
  scale: number;
  done: boolean;
  breakdown: boolean;
}

/**
 * Stochastic Lanczos quadrature (Lin, Saad, Yang 2016; Ghorbani, Krishnan, Xiao 2019), as
 * PyHessian's `density`: for each normalised Rademacher probe, `steps` Lanczos steps, then the
 * eigen-decomposition of the tridiagonal T gives nodes (Ritz values) and weights (squared first
 * eigenvector components). A run stops early when β falls to rounding level (the probe's Krylov
 * space is invariant, e.g. a matrix of small rank, or `steps` > size) and keeps its smaller T.
 */
export async function slq(op: LinearOperator, options: SlqOptions = {}): Promise<SlqResult> {
  const n = op.size;
  const steps = checkInteger('steps', options.steps ?? 100, 1);
  const probes = checkInteger('probes', options.probes ?? 1, 1);
  const seed = checkSeed(options.seed ?? 0);
  const reorthogonalize = options.reorthogonalize ?? 'full';
  if (reorthogonalize !== 'full' && reorthogonalize !== 'none') {
    throw new OptionError(`option 'reorthogonalize' must be 'full' or 'none', got '${reorthogonalize}'`);
  }
  const blockSize = checkInteger('blockSize', options.blockSize ?? 1, 1);
  const ctx = new RunContext(op, 'slq', steps * probes, options);
  const root = new Rng(seed);
  const full = reorthogonalize === 'full';

  const runs: SlqRun[] = [];
  for (let first = 0; first < probes && !ctx.stopRequested; first += blockSize) {
    const group: LanczosRunState[] = [];
    for (let r = first; r < Math.min(probes, first + blockSize); r++) {
      const v = new Float32Array(n);
      root.fork(r).fillRademacher(v);
      normalize(v);
      group.push({ alphas: [], betas: [], current: v, previous: null, basis: full ? [v] : [], scale: 0, done: false, breakdown: false });
    }
    for (let j = 0; j < steps; j++) {
      const active = group.filter((s) => !s.done);
      if (active.length === 0 || ctx.stopRequested) break;
      const products = await ctx.apply(active.map((s) => s.current));
      active.forEach((s, i) => lanczosStep(s, products[i]!, j === steps - 1, n, full));
    }
    for (const s of group) {
      if (s.alphas.length === 0) continue;
      const eig = tridiagonalEigen(s.alphas, s.betas);
      runs.push({
        nodes: eig.values,
        weights: Float64Array.from(eig.vectors, (y) => y[0]! * y[0]!),
        steps: s.alphas.length,
        breakdown: s.breakdown,
      });
    }
  }
  return { ...ctx.record('slq', { steps, probes, seed, reorthogonalize, blockSize }), runs, dimension: n };
}

function lanczosStep(s: LanczosRunState, w: Float32Array, last: boolean, n: number, full: boolean): void {
  const alpha = dot(s.current, w);
  s.alphas.push(alpha);
  s.scale = Math.max(s.scale, norm(w));
  if (last || s.alphas.length >= n) {
    s.done = true;
    return;
  }
  axpy(-alpha, s.current, w);
  if (s.previous) axpy(-s.betas[s.betas.length - 1]!, s.previous, w);
  if (full) orthogonalize(w, s.basis);
  const beta = norm(w);
  // In a closed Krylov space β is rounding noise, but noise that each earlier small β has divided
  // up (in float32 it reaches ~1e-5·||A|| after a handful of steps), so the threshold sits well
  // above eps. A real coupling that small moves the nodes by less than it and carries weight ~β².
  if (beta <= 1e-4 * s.scale) {
    s.done = true;
    s.breakdown = true;
    return;
  }
  s.betas.push(beta);
  normalize(w);
  s.previous = s.current;
  s.current = w;
  if (full) s.basis.push(w);
}
