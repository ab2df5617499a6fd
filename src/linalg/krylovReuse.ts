import { OptionError } from '../errors.js';
import type { LinearOperator } from './linearOperator.js';
import { checkInteger, checkPositive } from './options.js';
import { RunContext, type RunOptions, type RunRecord } from './runContext.js';
import type { KrylovBasis } from './slq.js';
import { tridiagonalEigen } from './symmetricEigen.js';
import { axpy, combine, dot, norm } from './vector.js';

/**
 * The k largest Ritz pairs of a Lanczos run: θ from T, the vectors Q s (unit length to rounding),
 * and `scale`, the largest |Ritz value| (lanczosEigs's estimate of ||A||).
 */
export function ritzPairs(krylov: KrylovBasis, k: number): { values: number[]; vectors: Float32Array[]; scale: number } {
  const m = krylov.alphas.length;
  if (m === 0) throw new RangeError('ritzPairs of an empty Lanczos run');
  if (krylov.basis.length !== m) throw new RangeError(`ritzPairs: ${krylov.basis.length} basis vectors for ${m} Lanczos steps`);
  const eig = tridiagonalEigen(krylov.alphas, krylov.betas);
  const values: number[] = [];
  const vectors: Float32Array[] = [];
  // ascending: the largest are at the end
  for (let i = m - 1; i >= Math.max(0, m - k); i--) {
    values.push(eig.values[i]!);
    vectors.push(combine(krylov.basis, eig.vectors[i]!, krylov.basis[0]!.length));
  }
  return { values, vectors, scale: Math.max(Math.abs(eig.values[0]!), Math.abs(eig.values[m - 1]!)) };
}

/** tr(Qᵀ A Q) of a Lanczos run: the sum of its alphas, each q_jᵀ A q_j, known without a product. */
export function projectedTrace(krylov: KrylovBasis): number {
  let s = 0;
  for (const a of krylov.alphas) s += a;
  return s;
}

export interface ConfirmedRitzPairs extends RunRecord<{ k: number; tol: number; steps: number }> {
  /** Rayleigh quotients xᵀ A x of the Ritz vectors, largest first. */
  eigenvalues: number[];
  eigenvectors: Float32Array[];
  /** ||A x - θ x||, from a real product per vector. */
  residualNorms: number[];
  /** Per pair: residual <= tol * max(|θ|, 1e-2 * max |Ritz value|), lanczosEigs's rule. */
  converged: boolean[];
}

/**
 * The k largest Ritz pairs of a finished Lanczos run (e.g. the density's), each confirmed by one
 * product: θ is then the Rayleigh quotient xᵀ A x and the residual ||A x - θ x|| is measured, not
 * predicted. Where a pair misses `tol` the caller goes on with a Lanczos run of its own (warm
 * started from the Ritz vector).
 */
export async function confirmedRitzPairs(op: LinearOperator, krylov: KrylovBasis, options: RunOptions & { k?: number; tol?: number } = {}): Promise<ConfirmedRitzPairs> {
  const k = checkInteger('k', options.k ?? 1, 1);
  const tol = checkPositive('tol', options.tol ?? 1e-4);
  if (krylov.basis.length > 0 && krylov.basis[0]!.length !== op.size) {
    throw new OptionError(`the Lanczos basis has vectors of length ${krylov.basis[0]!.length}; the operator has size ${op.size}`);
  }
  const ritz = ritzPairs(krylov, k);
  const ctx = new RunContext(op, 'ritz', ritz.vectors.length, options);
  const products = ctx.stopRequested ? [] : await ctx.apply(ritz.vectors);
  const eigenvalues: number[] = [];
  const residualNorms: number[] = [];
  products.forEach((ax, j) => {
    const x = ritz.vectors[j]!;
    const theta = dot(x, ax) / dot(x, x);
    eigenvalues.push(theta);
    residualNorms.push(norm(axpy(-theta, x, Float64Array.from(ax))));
  });
  return {
    ...ctx.record('ritz', { k, tol, steps: krylov.alphas.length }),
    eigenvalues,
    eigenvectors: ritz.vectors.slice(0, products.length),
    residualNorms,
    converged: residualNorms.map((r, j) => r <= tol * Math.max(Math.abs(eigenvalues[j]!), 1e-2 * ritz.scale)),
  };
}
