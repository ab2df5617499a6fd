import { inverse, Matrix } from 'ml-matrix';
import { OptionError } from '../errors.js';
import { Rng } from '../tensor/rng.js';
import type { LinearOperator } from './linearOperator.js';
import { checkInteger, checkSeed } from './options.js';
import { checkDistribution, drawProbe, type ProbeDistribution } from './probes.js';
import { RunContext, type RunOptions, type RunRecord } from './runContext.js';
import { standardErrorOfMean } from './statistics.js';
import { dot, norm, normalize, orthogonalize } from './vector.js';

export interface XTraceOptions extends RunOptions {
  /** The product budget, even: m/2 probes, then m/2 products with their orthonormalised images. Default 100. */
  products?: number;
  distribution?: ProbeDistribution;
  seed?: number;
  /** Vectors per operator call (matmat). Default 4. */
  blockSize?: number;
}

export interface XTraceResult extends RunRecord<Required<Omit<XTraceOptions, keyof RunOptions>>> {
  estimate: number;
  /** The spread of the m/2 leave-one-out estimates / sqrt(m/2), the paper's error estimate. */
  standardError: number;
  /** The leave-one-out estimates whose mean is `estimate`. */
  leaveOneOut: Float64Array;
  /** The rank of the sketch; below m/2 the operator's range is captured and the estimate is exact. */
  sketchRank: number;
  /** 'xtrace' normally; 'hutchinson' when aborted before the sketch's products were complete. */
  estimator: 'xtrace' | 'hutchinson';
}

/**
 * XTrace (Epperly, Tropp, Webber 2024): the exchangeable form of Hutch++. Every probe ω_i serves
 * both as a sketch vector and as a Hutchinson probe: estimate i is Hutch++ with the sketch built
 * from the other probes, tr(Q_iᵀ A Q_i) + ω_iᵀ (I - Q_iQ_iᵀ) A (I - Q_iQ_iᵀ) ω_i, and the result is
 * their mean. Leaving ω_i out of Y = AΩ = QR removes from range(Q) the direction Q s_i, s_i the
 * normalised i-th column of R⁻ᵀ, so all m/2 estimates follow from AΩ and AQ without more products.
 */
export async function xtrace(op: LinearOperator, options: XTraceOptions = {}): Promise<XTraceResult> {
  const n = op.size;
  const budget = checkInteger('products', options.products ?? 100, 4);
  if (budget % 2 !== 0) throw new OptionError(`option 'products' must be even (probes, then their sketch), got ${budget}; try ${budget - 1}`);
  const distribution = checkDistribution(options.distribution ?? 'rademacher');
  const seed = checkSeed(options.seed ?? 0);
  const blockSize = checkInteger('blockSize', options.blockSize ?? 4, 1);
  const half = budget / 2;
  const ctx = new RunContext(op, 'xtrace', budget, options);
  const root = new Rng(seed);

  const omegas = Array.from({ length: half }, (_, i) => drawProbe(root.fork(i), n, distribution));
  const ys: Float32Array[] = [];
  const quadratic: number[] = [];
  let complete = await ctx.applyInBlocks(half, blockSize, (i) => omegas[i]!, (omega, y) => {
    quadratic.push(dot(omega, y));
    ys.push(y);
  });
  const record = { products: budget, distribution, seed, blockSize };
  const { q, r, rank } = complete ? gramSchmidtQr(ys) : { q: [], r: new Float64Array(0), rank: 0 };
  const zs: Float32Array[] = [];
  if (complete) complete = await ctx.applyInBlocks(q.length, blockSize, (i) => q[i]!, (_, z) => zs.push(z));
  if (!complete) {
    return {
      ...ctx.record('xtrace', record),
      estimate: quadratic.reduce((a, b) => a + b, 0) / quadratic.length,
      standardError: standardErrorOfMean(quadratic),
      leaveOneOut: new Float64Array(0),
      sketchRank: rank,
      estimator: 'hutchinson',
    };
  }

  const k = q.length;
  const h = new Float64Array(k * k);
  for (let a = 0; a < k; a++) for (let b = 0; b <= a; b++) h[a * k + b] = h[b * k + a] = 0.5 * (dot(q[a]!, zs[b]!) + dot(q[b]!, zs[a]!));
  let traceH = 0;
  for (let a = 0; a < k; a++) traceH += h[a * k + a]!;
  if (rank < half) {
    // AΩ has lower rank than the probes: range(Q) = range(A), so (I - QQᵀ)A = 0 and tr(QᵀAQ) is the trace.
    return { ...ctx.record('xtrace', record), estimate: traceH, standardError: 0, leaveOneOut: new Float64Array(0), sketchRank: rank, estimator: 'xtrace' };
  }

  const rMatrix = new Matrix(k, k);
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) rMatrix.set(a, b, r[a * k + b]!);
  const rInverse = inverse(rMatrix);
  const leaveOneOut = new Float64Array(half);
  const hTimes = (x: Float64Array): Float64Array => Float64Array.from({ length: k }, (_, a) => {
    let s = 0;
    for (let b = 0; b < k; b++) s += h[a * k + b]! * x[b]!;
    return s;
  });
  const dot64 = (x: Float64Array, y: Float64Array): number => x.reduce((acc, xi, j) => acc + xi * y[j]!, 0);
  for (let i = 0; i < half; i++) {
    const omega = omegas[i]!;
    const s = Float64Array.from({ length: k }, (_, a) => rInverse.get(i, a));
    normalize(s);
    const w = Float64Array.from(q, (qa) => dot(qa, omega));
    const t = Float64Array.from(zs, (za) => dot(za, omega));
    const c = dot64(s, w);
    const u = Float64Array.from(w, (wa, a) => wa - c * s[a]!);
    leaveOneOut[i] = traceH - dot64(s, hTimes(s)) + quadratic[i]! - 2 * dot64(t, u) + dot64(u, hTimes(u));
  }
  return {
    ...ctx.record('xtrace', record),
    estimate: leaveOneOut.reduce((a, b) => a + b, 0) / half,
    standardError: standardErrorOfMean(leaveOneOut),
    leaveOneOut,
    sketchRank: rank,
    estimator: 'xtrace',
  };
}

/**
 * Y = QR by Gram-Schmidt applied twice, columns overwritten. Stops being a full factorisation at
 * the first column that falls to rounding level (rank < columns); `rank` reports how many survived.
 */
function gramSchmidtQr(ys: Float32Array[]): { q: Float32Array[]; r: Float64Array; rank: number } {
  const k = ys.length;
  let largest = 0;
  for (const y of ys) largest = Math.max(largest, norm(y));
  const q: Float32Array[] = [];
  const r = new Float64Array(k * k);
  let rank = 0;
  for (let i = 0; i < k; i++) {
    const y = ys[i]!;
    const coeffs = orthogonalize(y, q);
    const len = norm(y);
    if (!(len > 1e-6 * largest)) continue;
    for (let a = 0; a < q.length; a++) r[a * k + i] = coeffs[a]!;
    r[q.length * k + i] = len;
    normalize(y);
    q.push(y);
    rank++;
  }
  return { q, r, rank };
}
