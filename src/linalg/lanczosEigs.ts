import { OptionError } from '../errors.js';
import { Rng } from '../tensor/rng.js';
import type { LinearOperator } from './linearOperator.js';
import { checkInteger, checkPositive, checkSeed } from './options.js';
import { RunContext, type RunOptions, type RunRecord } from './runContext.js';
import { symmetricEigen, type SymmetricEigen } from './symmetricEigen.js';
import { axpy, combine, norm, normalize, orthogonalize } from './vector.js';

export type EigenTarget = 'largest' | 'smallest' | 'magnitude';

export interface LanczosEigsOptions extends RunOptions {
  /** How many eigenpairs. Default 1. */
  k?: number;
  /** Largest algebraic, smallest algebraic (the most negative), or largest in magnitude. Default 'largest'. */
  which?: EigenTarget;
  /**
   * Converged when the residual estimate ||A x - θ x|| <= tol * max(|θ|, 1e-2 * ||A||est), where
   * ||A||est is the largest |Ritz value| seen (the floor keeps eigenvalues near 0 reachable in
   * float32). Default 1e-4.
   */
  tol?: number;
  /** Products the iteration may use (the k products confirming the residuals come on top). Default 500. */
  maxProducts?: number;
  /** Basis vectors kept at most (memory is subspaceSize + blockSize vectors). Default max(2k+10, 30, k+4*blockSize), at most size. */
  subspaceSize?: number;
  /**
   * Vectors per product block. 1 is thick-restart Lanczos; b > 1 is its block form, which finds
   * an eigenvalue repeated up to b times with its whole eigenspace and uses the operator's
   * matmat. Default 1.
   */
  blockSize?: number;
  seed?: number;
  /** A start vector (the first of the block); default a Gaussian one drawn from `seed`. */
  startVector?: Float32Array;
  /** Compute ||A x - θ x|| with k real products at the end. Default true. */
  confirmResiduals?: boolean;
}

type ResolvedOptions = Required<Omit<LanczosEigsOptions, keyof RunOptions | 'startVector'>> & { startVector: boolean };

export interface LanczosEigsResult extends RunRecord<ResolvedOptions> {
  /** Ordered by `which`: descending, ascending, or by descending magnitude. */
  eigenvalues: number[];
  eigenvectors: Float32Array[];
  /** ||A x - θ x||: the true residuals when confirmed, else the estimates. */
  residualNorms: number[];
  residualsConfirmed: boolean;
  /** The residual norms predicted by the Lanczos relation, without products. */
  residualEstimates: number[];
  converged: boolean[];
  restarts: number;
  /** True when the Krylov space became invariant with nothing left to explore (the answer is exact). */
  exhausted: boolean;
}

/**
 * The k extreme eigenpairs of a symmetric operator by Lanczos with full reorthogonalisation and
 * thick restart (Wu & Simon 2000), in memory bounded by subspaceSize + blockSize vectors.
 *
 * The projected matrix H = Vᵀ A V is kept densely from the reorthogonalisation coefficients, so the
 * same code covers single-vector and block Lanczos and the arrowhead left by a restart; its small
 * eigenproblems are solved by ml-matrix. With blockSize 1, an eigenvalue repeated exactly is found
 * once (the start vector has one component in its eigenspace; further copies appear only through
 * rounding): pass blockSize >= the multiplicity when repeated eigenvalues matter.
 */
export async function lanczosEigs(op: LinearOperator, options: LanczosEigsOptions = {}): Promise<LanczosEigsResult> {
  const n = op.size;
  const k = checkInteger('k', options.k ?? 1, 1, n);
  const which = checkWhich(options.which ?? 'largest');
  const tol = checkPositive('tol', options.tol ?? 1e-4);
  const maxProducts = checkInteger('maxProducts', options.maxProducts ?? 500, 1);
  const b = checkInteger('blockSize', options.blockSize ?? 1, 1, n);
  const m = Math.min(n, checkInteger('subspaceSize', options.subspaceSize ?? Math.max(2 * k + 10, 30, k + 4 * b), 1));
  if (m < n && m < k + b) {
    throw new OptionError(`option 'subspaceSize' (${m}) must be at least k + blockSize = ${k + b} so a restart can keep k vectors and extend them`);
  }
  if (maxProducts < b) throw new OptionError(`option 'maxProducts' (${maxProducts}) must be at least blockSize (${b})`);
  const seed = checkSeed(options.seed ?? 0);
  const confirmResiduals = options.confirmResiduals ?? true;
  if (options.startVector && options.startVector.length !== n) {
    throw new OptionError(`option 'startVector' has length ${options.startVector.length}; it must have the operator's size ${n}`);
  }
  const resolved: ResolvedOptions = { k, which, tol, maxProducts, subspaceSize: m, blockSize: b, seed, confirmResiduals, startVector: !!options.startVector };
  const ctx = new RunContext(op, 'lanczos', maxProducts, options);
  const rng = new Rng(seed);

  const cap = m + b;
  const h = new Float64Array(cap * cap);
  const basis: Float32Array[] = [];
  let p = 0; // vectors whose products are in H; the frontier follows them in `basis`
  let restarts = 0;
  let scale = 0;
  let exhausted = false;

  const start: Float32Array[] = [];
  for (let c = 0; c < b; c++) {
    const v = c === 0 && options.startVector ? Float32Array.from(options.startVector) : randomVector(rng, n);
    orthogonalize(v, start);
    if (normalize(v) < 1e-6) throw new OptionError(`option 'startVector' is zero; give a nonzero vector or leave it out`);
    start.push(v);
  }
  basis.push(...start);

  let ritz: SymmetricEigen = { values: new Float64Array(0), vectors: [] };
  let estimates: Float64Array = new Float64Array(0);

  for (;;) {
    const f = basis.length - p;
    if (f === 0) {
      exhausted = true;
      break;
    }
    if (ctx.stopRequested || ctx.products + f > maxProducts) break;
    const frontier = basis.slice(p, p + f);
    const products = await ctx.apply(frontier);
    const all = basis.slice(0, p + f);
    for (let c = 0; c < f; c++) {
      const w = products[c]!;
      scale = Math.max(scale, norm(w));
      const coeffs = orthogonalize(w, all);
      for (let i = 0; i < p; i++) h[i * cap + p + c] = h[(p + c) * cap + i] = coeffs[i]!;
      for (let a = 0; a < f; a++) h[(p + a) * cap + p + c] = coeffs[p + a]!;
    }
    for (let a = 0; a < f; a++) {
      for (let c = 0; c < a; c++) {
        const avg = 0.5 * (h[(p + a) * cap + p + c]! + h[(p + c) * cap + p + a]!);
        h[(p + a) * cap + p + c] = h[(p + c) * cap + p + a] = avg;
      }
    }
    // The orthogonalised products are the next frontier: A F = V C + F' R. A direction that
    // vanished (invariant subspace) is replaced by a random one so the search goes on.
    const room = n - (p + f);
    const next: Float32Array[] = [];
    const r = new Float64Array(f * f);
    for (let c = 0; c < f; c++) {
      const w = products[c]!;
      const cs = orthogonalize(w, next);
      for (let a = 0; a < next.length; a++) r[a * f + c] = cs[a]!;
      const len = norm(w);
      // Once the basis spans the whole space what is left of w is rounding: record its couplings only.
      if (len > 1e-6 * scale && next.length < room) {
        r[next.length * f + c] = len;
        normalize(w);
        next.push(w);
      }
    }
    while (next.length < Math.min(f, room)) {
      const v = randomVector(rng, n);
      orthogonalize(v, all);
      orthogonalize(v, next);
      if (normalize(v) < 1e-3) break;
      next.push(v);
    }
    const pNew = p + f;
    for (let a = 0; a < next.length; a++) {
      const row = (pNew + a) * cap;
      h.fill(0, row, row + cap);
      for (let i = 0; i < cap; i++) h[i * cap + pNew + a] = 0;
      for (let c = 0; c < f; c++) h[row + p + c] = h[(p + c) * cap + pNew + a] = r[a * f + c]!;
    }
    basis.length = pNew;
    basis.push(...next);
    p = pNew;

    ritz = symmetricEigen(h, p, cap);
    estimates = residualEstimates(h, cap, p, basis.length - p, ritz.vectors);
    for (const t of ritz.values) scale = Math.max(scale, Math.abs(t));
    const order = targetOrder(ritz.values, which);
    if (p >= k && order.slice(0, k).every((i) => estimates[i]! <= threshold(ritz.values[i]!, tol, scale))) break;
    if (basis.length === p) {
      exhausted = true;
      break;
    }
    if (p + b > m) {
      const keep = Math.max(k, Math.min(m - b, k + Math.floor((m - k) / 2)));
      p = restart(basis, h, cap, p, order.slice(0, keep), ritz, n);
      restarts++;
      ritz = { values: new Float64Array(0), vectors: [] };
    }
  }

  if (ritz.values.length === 0) {
    // Stopped right after a restart: H's leading block is diagonal with the kept Ritz values.
    ritz = symmetricEigen(h, p, cap);
    estimates = residualEstimates(h, cap, p, basis.length - p, ritz.vectors);
  }
  if (exhausted) estimates.fill(0);
  const wanted = targetOrder(ritz.values, which).slice(0, Math.min(k, ritz.values.length));
  const computed = basis.slice(0, p);
  const eigenvalues = wanted.map((i) => ritz.values[i]!);
  const eigenvectors = wanted.map((i) => {
    const x = combine(computed, ritz.vectors[i]!, n);
    normalize(x);
    return x;
  });
  const residualEstimatesOut = wanted.map((i) => estimates[i]!);
  const converged = wanted.map((i) => estimates[i]! <= threshold(ritz.values[i]!, tol, scale));
  let residualNorms = residualEstimatesOut;
  let residualsConfirmed = false;
  if (confirmResiduals && !ctx.aborted && eigenvectors.length > 0) {
    const ax = await ctx.apply(eigenvectors);
    residualNorms = ax.map((y, j) => norm(axpy(-eigenvalues[j]!, eigenvectors[j]!, Float64Array.from(y))));
    residualsConfirmed = true;
  }
  return {
    ...ctx.record('lanczos', resolved),
    eigenvalues,
    eigenvectors,
    residualNorms,
    residualsConfirmed,
    residualEstimates: residualEstimatesOut,
    converged,
    restarts,
    exhausted,
  };
}

function checkWhich(w: string): EigenTarget {
  if (w !== 'largest' && w !== 'smallest' && w !== 'magnitude') {
    throw new OptionError(`option 'which' must be 'largest', 'smallest' or 'magnitude', got '${w}'`);
  }
  return w;
}

function randomVector(rng: Rng, n: number): Float32Array {
  const v = new Float32Array(n);
  rng.fillNormal(v);
  return v;
}

function threshold(theta: number, tol: number, scale: number): number {
  return tol * Math.max(Math.abs(theta), 1e-2 * scale);
}

/** Indices of the Ritz values, most wanted first. */
function targetOrder(values: Float64Array, which: EigenTarget): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  if (which === 'largest') return idx.sort((a, b) => values[b]! - values[a]!);
  if (which === 'smallest') return idx.sort((a, b) => values[a]! - values[b]!);
  return idx.sort((a, b) => Math.abs(values[b]!) - Math.abs(values[a]!));
}

/**
 * ||A x - θ x|| for each Ritz pair without products: with full reorthogonalisation
 * A V = V H + F H_F, so the residual of x = V y is F (H_F y) and F is orthonormal.
 */
function residualEstimates(h: Float64Array, cap: number, p: number, f: number, ys: Float64Array[]): Float64Array {
  const out = new Float64Array(ys.length);
  ys.forEach((y, i) => {
    let s = 0;
    for (let a = 0; a < f; a++) {
      const row = (p + a) * cap;
      let t = 0;
      for (let j = 0; j < p; j++) t += h[row + j]! * y[j]!;
      s += t * t;
    }
    out[i] = Math.sqrt(s);
  });
  return out;
}

/**
 * Thick restart: the basis becomes the kept Ritz vectors followed by the frontier, and H becomes
 * diag(θ_kept) bordered by the frontier's couplings to them (an arrowhead). The Ritz vectors are
 * formed in place one row of the basis at a time, so no second basis is allocated.
 */
function restart(basis: Float32Array[], h: Float64Array, cap: number, p: number, kept: number[], ritz: SymmetricEigen, n: number): number {
  const l = kept.length;
  const f = basis.length - p;
  const couplings = new Float64Array(f * l);
  for (let a = 0; a < f; a++) {
    for (let i = 0; i < l; i++) {
      const y = ritz.vectors[kept[i]!]!;
      let t = 0;
      for (let j = 0; j < p; j++) t += h[(p + a) * cap + j]! * y[j]!;
      couplings[a * l + i] = t;
    }
  }
  const y = new Float64Array(p * l);
  for (let i = 0; i < l; i++) {
    const col = ritz.vectors[kept[i]!]!;
    for (let j = 0; j < p; j++) y[j * l + i] = col[j]!;
  }
  const row = new Float64Array(p);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < p; j++) row[j] = basis[j]![r]!;
    for (let i = 0; i < l; i++) {
      let s = 0;
      for (let j = 0; j < p; j++) s += row[j]! * y[j * l + i]!;
      basis[i]![r] = s;
    }
  }
  const frontier = basis.slice(p);
  basis.length = l;
  basis.push(...frontier);
  h.fill(0);
  for (let i = 0; i < l; i++) h[i * cap + i] = ritz.values[kept[i]!]!;
  for (let a = 0; a < f; a++) {
    for (let i = 0; i < l; i++) h[(l + a) * cap + i] = h[i * cap + l + a] = couplings[a * l + i]!;
  }
  return l;
}
