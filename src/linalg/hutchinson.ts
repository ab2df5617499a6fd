import { Rng } from '../tensor/rng.js';
import type { LinearOperator } from './linearOperator.js';
import { checkInteger, checkPositive, checkSeed } from './options.js';
import { checkDistribution, drawProbe, type ProbeDistribution } from './probes.js';
import { RunContext, type RunOptions, type RunRecord } from './runContext.js';
import { standardErrorOfMean } from './statistics.js';
import { dot } from './vector.js';

export interface HutchinsonOptions extends RunOptions {
  /** Probes at most. Default 100 (PyHessian's maxIter). */
  probes?: number;
  distribution?: ProbeDistribution;
  /**
   * PyHessian's stopping rule, off unless given: stop after the first sample at which
   * |mean_new - mean_old| / (|mean_old| + 1e-6) < tol (PyHessian uses 1e-3).
   */
  tol?: number;
  seed?: number;
  /** Probes per operator call (matmat); the estimate does not depend on it. Default 4. */
  blockSize?: number;
}

export interface HutchinsonResult extends RunRecord<Required<Omit<HutchinsonOptions, keyof RunOptions | 'tol'>> & { tol: number | null }> {
  estimate: number;
  /** Sample standard deviation / sqrt(samples); NaN with a single sample. */
  standardError: number;
  /** vᵀ A v for every probe used, in order. */
  samples: Float64Array;
  /** True when the stopping rule ended the run before `probes`. */
  stoppedByTol: boolean;
}

/**
 * Hutchinson's trace estimator: the mean of vᵀ A v over random probes with E[v vᵀ] = I. Probe i
 * is drawn from the i-th fork of the seed's generator, so the samples, and the estimate, are the
 * same whatever the block size. With the stopping rule and blocks, the products already computed
 * past the stopping sample are counted in `products` but not used.
 */
export async function hutchinson(op: LinearOperator, options: HutchinsonOptions = {}): Promise<HutchinsonResult> {
  const n = op.size;
  const probes = checkInteger('probes', options.probes ?? 100, 1);
  const distribution = checkDistribution(options.distribution ?? 'rademacher');
  const tol = options.tol === undefined ? null : checkPositive('tol', options.tol, true);
  const seed = checkSeed(options.seed ?? 0);
  const blockSize = checkInteger('blockSize', options.blockSize ?? 4, 1);
  const ctx = new RunContext(op, 'hutchinson', probes, options);
  const root = new Rng(seed);

  const samples: number[] = [];
  let sum = 0;
  let mean = 0;
  let stoppedByTol = false;
  outer: while (samples.length < probes && !ctx.stopRequested) {
    const count = Math.min(blockSize, probes - samples.length);
    const vs = Array.from({ length: count }, (_, j) => drawProbe(root.fork(samples.length + j), n, distribution));
    const avs = await ctx.apply(vs);
    for (let j = 0; j < count; j++) {
      const s = dot(vs[j]!, avs[j]!);
      samples.push(s);
      sum += s;
      const next = sum / samples.length;
      if (tol !== null && Math.abs(next - mean) / (Math.abs(mean) + 1e-6) < tol) {
        mean = next;
        stoppedByTol = true;
        break outer;
      }
      mean = next;
    }
  }
  return {
    ...ctx.record('hutchinson', { probes, distribution, tol, seed, blockSize }),
    estimate: mean,
    standardError: standardErrorOfMean(samples),
    samples: Float64Array.from(samples),
    stoppedByTol,
  };
}
