import { Rng } from '../tensor/rng.js';
import type { LinearOperator } from './linearOperator.js';
import { checkInteger, checkPositive, checkSeed } from './options.js';
import { RunContext, type RunOptions, type RunRecord } from './runContext.js';
import { axpy, dot, norm, normalize, orthogonalize } from './vector.js';

export interface PowerIterationOptions extends RunOptions {
  /** How many eigenpairs, found one after another. Default 1. */
  topN?: number;
  /** Products per eigenpair at most. Default 100 (PyHessian). */
  maxIter?: number;
  /** Stop when |λ - λ_prev| / (|λ_prev| + 1e-6) < tol (PyHessian's rule). Default 1e-3. */
  tol?: number;
  seed?: number;
}

export interface PowerIterationResult extends RunRecord<Required<Omit<PowerIterationOptions, keyof RunOptions>>> {
  /** In the order found: each the dominant (largest in magnitude) one left after deflation. */
  eigenvalues: number[];
  eigenvectors: Float32Array[];
  /** ||A v - λ v|| of each returned pair, computed from the last product (no extra product). */
  residualNorms: number[];
  /** Products spent on each eigenpair. */
  iterations: number[];
  converged: boolean[];
  /** The Rayleigh quotient after every product, per eigenpair (for convergence plots). */
  history: number[][];
  /** ||A v - λ v|| of the iterate after every product, per eigenpair. */
  residualHistory: number[][];
}

/**
 * PyHessian's power iteration: for each of topN eigenpairs, start from a normalised Gaussian
 * vector, orthonormalise every iterate against the eigenvectors already found, take the Rayleigh
 * quotient as the eigenvalue and stop on PyHessian's relative-change rule.
 *
 * Power iteration converges to the eigenvalue largest in MAGNITUDE, so on an indefinite Hessian
 * the "top" eigenvalue may be the most negative one; with |λ1| = |λ2| of opposite signs it does
 * not converge. The rule stops when the estimate stalls, not when it is accurate: with a small
 * relative gap it can stop far from the answer (see lanczosEigs).
 *
 * Two deliberate differences from PyHessian's code: the returned eigenvalue is the latest Rayleigh
 * quotient (PyHessian returns the one before it), and the returned eigenvector is the iterate
 * whose Rayleigh quotient that is (PyHessian returns the next, unprojected iterate), so the pair
 * is consistent and its residual is exact.
 */
export async function powerIteration(op: LinearOperator, options: PowerIterationOptions = {}): Promise<PowerIterationResult> {
  const n = op.size;
  const topN = checkInteger('topN', options.topN ?? 1, 1, n);
  const maxIter = checkInteger('maxIter', options.maxIter ?? 100, 1);
  const tol = checkPositive('tol', options.tol ?? 1e-3, true);
  const seed = checkSeed(options.seed ?? 0);
  const ctx = new RunContext(op, 'power iteration', topN * maxIter, options);
  const root = new Rng(seed);

  const eigenvalues: number[] = [];
  const eigenvectors: Float32Array[] = [];
  const residualNorms: number[] = [];
  const iterations: number[] = [];
  const converged: boolean[] = [];
  const history: number[][] = [];
  const residualHistory: number[][] = [];

  for (let e = 0; e < topN && !ctx.stopRequested; e++) {
    const rng = root.fork(e);
    let v: Float32Array = new Float32Array(n);
    rng.fillNormal(v);
    normalize(v);
    let lambda: number | null = null;
    let residual = NaN;
    let done = false;
    let used = 0;
    const trace: number[] = [];
    const residuals: number[] = [];
    let current: Float32Array = v;
    for (let it = 0; it < maxIter; it++) {
      if (ctx.stopRequested) break;
      orthogonalize(v, eigenvectors);
      if (normalize(v) === 0) {
        // The iterate lies in the span of the eigenvectors found: the operator is zero on their
        // complement, so every remaining eigenvalue is 0 and any complement direction is one.
        v = freshComplementVector(rng, n, eigenvectors);
      }
      const hv = await ctx.applyOne(v);
      used++;
      const rq = dot(hv, v);
      trace.push(rq);
      current = v;
      residual = norm(axpy(-rq, v, Float64Array.from(hv)));
      residuals.push(residual);
      const prev = lambda;
      lambda = rq;
      if (prev !== null && Math.abs(prev - rq) / (Math.abs(prev) + 1e-6) < tol) {
        done = true;
        break;
      }
      v = Float32Array.from(hv);
      if (normalize(v) === 0) {
        done = true;
        break;
      }
    }
    if (lambda === null) break;
    eigenvalues.push(lambda);
    eigenvectors.push(current);
    residualNorms.push(residual);
    iterations.push(used);
    converged.push(done);
    history.push(trace);
    residualHistory.push(residuals);
  }
  return {
    ...ctx.record('power-iteration', { topN, maxIter, tol, seed }),
    eigenvalues,
    eigenvectors,
    residualNorms,
    iterations,
    converged,
    history,
    residualHistory,
  };
}

function freshComplementVector(rng: Rng, n: number, basis: Float32Array[]): Float32Array {
  for (let attempt = 0; attempt < 8; attempt++) {
    const v = new Float32Array(n);
    rng.fillNormal(v);
    orthogonalize(v, basis);
    if (normalize(v) > 1e-3) return v;
  }
  throw new Error('no direction left orthogonal to the eigenvectors found');
}
