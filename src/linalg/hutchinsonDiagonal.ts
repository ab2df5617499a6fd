import { OptionError } from '../errors.js';
import { Rng } from '../tensor/rng.js';
import type { LinearOperator } from './linearOperator.js';
import { checkInteger, checkSeed } from './options.js';
import { checkDistribution, drawProbe, type ProbeDistribution } from './probes.js';
import { RunContext, type RunOptions, type RunRecord } from './runContext.js';
import { standardErrorOfMean } from './statistics.js';

/** A named index range of the flat vector (one layer's parameters, say). */
export interface VectorBlock {
  name: string;
  offset: number;
  length: number;
}

export interface HutchinsonDiagonalOptions extends RunOptions {
  /** Default 100. */
  probes?: number;
  distribution?: ProbeDistribution;
  seed?: number;
  /** Ranges whose diagonal sums (block traces) to report. */
  blocks?: VectorBlock[];
  /** Probes per operator call (matmat). Default 4. */
  blockSize?: number;
}

export interface BlockTraceEstimate {
  name: string;
  offset: number;
  length: number;
  /** The sum of the diagonal estimate over the block: an unbiased estimate of the block's trace. */
  trace: number;
  standardError: number;
}

export interface HutchinsonDiagonalResult extends RunRecord<Required<Omit<HutchinsonDiagonalOptions, keyof RunOptions | 'blocks'>> & { blocks: VectorBlock[] }> {
  /** The mean of v ⊙ A v over probes, per entry. */
  diagonal: Float64Array;
  /** Per-entry sample standard deviation / sqrt(probes); NaN with a single probe. */
  standardErrors: Float64Array;
  /** The sum of `diagonal`: Hutchinson's trace estimate from the same probes. */
  trace: number;
  traceStandardError: number;
  blocks: BlockTraceEstimate[];
  samples: number;
}

/**
 * Hutchinson's diagonal estimator (Bekas, Kokiopoulou, Saad 2007): diag(A) ≈ mean of v ⊙ A v.
 * With Rademacher probes the error of entry i comes only from the off-diagonal entries of row i;
 * Gaussian probes add the diagonal's own 2·a_ii² to the variance. The spread is tracked per entry
 * (Welford) and per block from the per-probe block sums, so the block errors account for the
 * correlation between entries.
 */
export async function hutchinsonDiagonal(op: LinearOperator, options: HutchinsonDiagonalOptions = {}): Promise<HutchinsonDiagonalResult> {
  const n = op.size;
  const probes = checkInteger('probes', options.probes ?? 100, 1);
  const distribution = checkDistribution(options.distribution ?? 'rademacher');
  const seed = checkSeed(options.seed ?? 0);
  const blockSize = checkInteger('blockSize', options.blockSize ?? 4, 1);
  const blocks = (options.blocks ?? []).map((b) => checkBlock(b, n));
  const ctx = new RunContext(op, 'hutchinson diagonal', probes, options);
  const root = new Rng(seed);

  const mean = new Float64Array(n);
  const m2 = new Float64Array(n);
  const blockSums: number[][] = blocks.map(() => []);
  const traceSums: number[] = [];
  let count = 0;
  await ctx.applyInBlocks(
    probes,
    blockSize,
    (i) => drawProbe(root.fork(i), n, distribution),
    (v, av) => {
      count++;
      let total = 0;
      for (let i = 0; i < n; i++) {
        const x = v[i]! * av[i]!;
        total += x;
        const delta = x - mean[i]!;
        mean[i] = mean[i]! + delta / count;
        m2[i] = m2[i]! + delta * (x - mean[i]!);
      }
      traceSums.push(total);
      blocks.forEach((b, bi) => {
        let s = 0;
        for (let i = b.offset; i < b.offset + b.length; i++) s += v[i]! * av[i]!;
        blockSums[bi]!.push(s);
      });
    },
  );
  const standardErrors = new Float64Array(n);
  for (let i = 0; i < n; i++) standardErrors[i] = count > 1 ? Math.sqrt(m2[i]! / (count - 1) / count) : NaN;
  let trace = 0;
  for (let i = 0; i < n; i++) trace += mean[i]!;
  return {
    ...ctx.record('hutchinson-diagonal', { probes, distribution, seed, blockSize, blocks }),
    diagonal: mean,
    standardErrors,
    trace,
    traceStandardError: standardErrorOfMean(traceSums),
    blocks: blocks.map((b, bi) => {
      const sums = blockSums[bi]!;
      return { ...b, trace: sums.reduce((a, c) => a + c, 0) / Math.max(1, sums.length), standardError: standardErrorOfMean(sums) };
    }),
    samples: count,
  };
}

function checkBlock(b: VectorBlock, n: number): VectorBlock {
  if (!Number.isInteger(b.offset) || !Number.isInteger(b.length) || b.offset < 0 || b.length < 0 || b.offset + b.length > n) {
    throw new OptionError(`block '${b.name}' covers [${b.offset}, ${b.offset + b.length}) which is outside the operator's [0, ${n}); fix its offset and length`);
  }
  return { name: b.name, offset: b.offset, length: b.length };
}
