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
  /**
   * Return each run's Lanczos basis and recurrence coefficients (`krylov`), for other estimators
   * to reuse without new products (Ritz pairs, a deflated trace). Needs full reorthogonalisation,
   * which stores the basis anyway; keeping it makes it outlive the call. Default false.
   */
  keepBasis?: boolean;
}

/**
 * A Lanczos run's orthonormal basis Q (one vector per step) and the tridiagonal T = Qᵀ A Q it
 * built: alphas[j] = q_jᵀ A q_j, betas[j] couples steps j and j + 1 (0 at a restart). So
 * tr(Qᵀ A Q) = Σ alphas, and the eigenpairs (θ, s) of T give Ritz pairs (θ, Q s) of A.
 */
export interface KrylovBasis {
  basis: Float32Array[];
  alphas: Float64Array;
  betas: Float64Array;
}

/** One probe's Gauss quadrature: the spectral measure seen from the probe, vᵀ f(A) v ≈ Σ w f(θ). */
export interface SlqRun {
  /** Ritz values of the tridiagonal matrix, ascending (PyHessian's density_eigen row). */
  nodes: Float64Array;
  /**
   * Squared first components of its eigenvectors; they sum to 1 (PyHessian's density_weight row).
   * Nodes found after a restart have weight 0 (see `restarts`).
   */
  weights: Float64Array;
  /** Lanczos steps taken, restarts included: `steps`, or fewer when the whole space is spanned or on an abort. */
  steps: number;
  /**
   * The probe's Krylov space became invariant (β at rounding level): its quadrature is exact, and
   * all the weight lies on the nodes found before the first restart.
   */
  breakdown: boolean;
  /**
   * How many times the run went on with a fresh random vector after a breakdown (0 without one).
   * Each restart opens a new block of the tridiagonal matrix, coupled to the earlier ones by β = 0.
   */
  restarts: number;
  /** With `keepBasis`: the run's basis and T. */
  krylov?: KrylovBasis;
}

export interface SlqResult extends RunRecord<Required<Omit<SlqOptions, keyof RunOptions>>> {
  runs: SlqRun[];
  /** The size of the operator (the dimension the density is normalised over). */
  dimension: number;
}

interface LanczosRunState {
  alphas: number[];
  /** betas[j] couples steps j and j + 1; 0 where a restart opened a new block. */
  betas: number[];
  current: Float32Array;
  previous: Float32Array | null;
  basis: Float32Array[];
  /** The largest ||A q|| seen: an estimate of ||T|| from below, and of ||A|| restricted to the basis. */
  scale: number;
  done: boolean;
  breakdown: boolean;
  restarts: number;
  /** The probe's stream, continued for the restart vectors. */
  rng: Rng;
}

/** float32's unit roundoff: the vectors, and the operator's products, are float32. */
const UNIT_ROUNDOFF = 2 ** -24;

/**
 * A β at or below BREAKDOWN_FACTOR · u · ||T|| is taken as rounding noise, i.e. the Krylov space
 * as invariant. At a true breakdown β is the float32 rounding of the product (u·||Aq|| per step)
 * plus what earlier steps left in the basis vectors, which each earlier β divided up: measured
 * 2-120 u·||T|| on dense matrices with 4 or 5 distinct eigenvalues (40 seeds each), up to 300 with
 * 8. A real coupling is far larger whenever the spectrum's structure is resolvable in float32:
 * 290 u·||T|| for a bulk 7e-5·||A|| wide, 830 for one 2e-4 wide (the spectra of the tests), while
 * hesse's Hessian-vector products are themselves accurate to only 1e-7..1.3e-6 (about 2-20 u) of
 * PyTorch's float64 ones. 128 u = 7.6e-6 sits between: dropping a coupling that small moves the
 * Ritz values by at most that much, below what the products resolve. A noisier breakdown goes
 * undetected, which costs nothing but the label: the run goes on from the normalised noise, a
 * vector orthogonal to the basis like a restart's, whose block then carries weight of order
 * (β/gap)², at rounding level.
 */
const BREAKDOWN_FACTOR = 128;

/**
 * Stochastic Lanczos quadrature (Lin, Saad, Yang 2016; Ghorbani, Krishnan, Xiao 2019), as
 * PyHessian's `density`: for each normalised Rademacher probe, `steps` Lanczos steps, then the
 * eigen-decomposition of the tridiagonal T gives nodes (Ritz values) and weights (squared first
 * eigenvector components).
 *
 * When β falls to rounding level (the probe's Krylov space is invariant, e.g. on a matrix with few
 * distinct eigenvalues or of small rank) the run restarts, as PyHessian does, with a Gaussian
 * vector orthogonalised against the basis, coupled by β = 0, so T is block diagonal. Its weights
 * stay those of the probe's Gauss rule: e₁ᵀ f(T) e₁ sees only the first block, which at a
 * breakdown gives vᵀ f(A) v exactly; the later blocks' nodes get weight 0. They are Ritz values of
 * the rest of the spectrum, which the probe cannot see, and widen the density's grid to it. A run
 * stops short of `steps` only when the basis spans the whole space (`steps` > size), or, without
 * reorthogonalisation (no basis to orthogonalise a restart vector against), at its first breakdown.
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
  const keepBasis = options.keepBasis ?? false;
  if (keepBasis && reorthogonalize !== 'full') throw new OptionError(`option 'keepBasis' needs reorthogonalize 'full', which stores the basis`);
  const ctx = new RunContext(op, 'slq', steps * probes, options);
  const root = new Rng(seed);
  const full = reorthogonalize === 'full';

  const runs: SlqRun[] = [];
  for (let first = 0; first < probes && !ctx.stopRequested; first += blockSize) {
    const group: LanczosRunState[] = [];
    for (let r = first; r < Math.min(probes, first + blockSize); r++) {
      const v = new Float32Array(n);
      const rng = root.fork(r);
      rng.fillRademacher(v);
      normalize(v);
      group.push({ alphas: [], betas: [], current: v, previous: null, basis: full ? [v] : [], scale: 0, done: false, breakdown: false, restarts: 0, rng });
    }
    for (let j = 0; j < steps; j++) {
      const active = group.filter((s) => !s.done);
      if (active.length === 0 || ctx.stopRequested) break;
      const products = await ctx.apply(active.map((s) => s.current));
      active.forEach((s, i) => lanczosStep(s, products[i]!, j === steps - 1, n, full));
    }
    for (const s of group) {
      if (s.alphas.length === 0) continue;
      const run: SlqRun = { ...quadrature(s.alphas, s.betas), steps: s.alphas.length, breakdown: s.breakdown, restarts: s.restarts };
      // the basis holds one vector per step taken (a run that ends early pushed no successor)
      if (keepBasis) run.krylov = { basis: s.basis.slice(0, s.alphas.length), alphas: Float64Array.from(s.alphas), betas: Float64Array.from(s.betas.slice(0, s.alphas.length - 1)) };
      runs.push(run);
    }
  }
  return { ...ctx.record('slq', { steps, probes, seed, reorthogonalize, blockSize, keepBasis }), runs, dimension: n };
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
  if (beta <= BREAKDOWN_FACTOR * UNIT_ROUNDOFF * s.scale) {
    if (s.restarts === 0) s.breakdown = true;
    const fresh = full ? restartVector(s.rng, n, s.basis) : null;
    if (!fresh) {
      s.done = true;
      return;
    }
    s.betas.push(0);
    s.restarts++;
    s.previous = null;
    s.current = fresh;
    s.basis.push(fresh);
    return;
  }
  s.betas.push(beta);
  normalize(w);
  s.previous = s.current;
  s.current = w;
  if (full) s.basis.push(w);
}

/**
 * A Gaussian vector orthonormal to the basis, or null when the basis spans the space numerically
 * (what is left of a random vector after removing its components falls to 1e-4 of it, where the
 * basis's own rounding, about u·sqrt(steps), is far smaller).
 */
function restartVector(rng: Rng, n: number, basis: Float32Array[]): Float32Array | null {
  if (basis.length >= n) return null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const v = new Float32Array(n);
    rng.fillNormal(v);
    const before = norm(v);
    orthogonalize(v, basis);
    if (normalize(v) > 1e-4 * before) return v;
  }
  return null;
}

/**
 * Nodes and weights of the block-diagonal T: each block (split where β = 0) is solved on its own,
 * so a node that two blocks share keeps its weight on the first block's copy; only the first
 * block, the probe's own Krylov space, carries weight (squared first components of its
 * eigenvectors).
 */
function quadrature(alphas: number[], betas: number[]): { nodes: Float64Array; weights: Float64Array } {
  const pairs: { node: number; weight: number }[] = [];
  let start = 0;
  for (let end = 1; end <= alphas.length; end++) {
    if (end < alphas.length && betas[end - 1] !== 0) continue;
    const eig = tridiagonalEigen(alphas.slice(start, end), betas.slice(start, end - 1));
    eig.values.forEach((node, i) => pairs.push({ node, weight: start === 0 ? eig.vectors[i]![0]! ** 2 : 0 }));
    start = end;
  }
  pairs.sort((a, b) => a.node - b.node);
  return { nodes: Float64Array.from(pairs, (p) => p.node), weights: Float64Array.from(pairs, (p) => p.weight) };
}
