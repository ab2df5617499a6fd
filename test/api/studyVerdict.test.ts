import { describe, expect, it } from 'vitest';
import { claimOutcome, compareVariants, ranks, spearmanTest, studyVerdicts, VERDICT_RULES } from '../../src/api/studyVerdict.js';
import { studyTable } from '../../src/api/studyTable.js';
import { variantSpec } from '../../src/api/studyVariants.js';
import type { StudyCheckpoint, StudyRunResult } from '../../src/report/index.js';

const sd = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};

function checkpoint(epoch: number, top: number, accuracy: number): StudyCheckpoint {
  return {
    epoch,
    topEigenvalues: [top],
    eigenResiduals: [0],
    eigenConverged: true,
    eigenProducts: 10,
    warmStart: epoch > 1,
    trace: 10 * top,
    traceStdErr: 0.1,
    traceProducts: 10,
    density: { nodes: [[0, top]], weights: [[0.5, 0.5]], steps: 2, probes: 1 },
    esdWidth: top,
    trainLoss: 0.5,
    trainAccuracy: 0.9,
    testAccuracy: accuracy,
    hessianLoss: 0.5,
    hessianAccuracy: 0.9,
    hessianSamples: 200,
    products: 30,
    ms: 1,
  };
}

/** A finished run whose last checkpoint has this top eigenvalue and test accuracy (an earlier one says otherwise). */
function run(depth: number, variant: string, seed: number, top: number, accuracy = 0.5, status: StudyRunResult['status'] = 'done'): StudyRunResult {
  const v = variantSpec(variant);
  return {
    id: `resnet${depth}-${variant}-seed${seed}`,
    depth,
    variant,
    label: v.label,
    group: v.group,
    seed,
    batchNorm: v.batchNorm,
    residual: v.residual,
    parameters: 1000,
    status,
    needed: { warmup: false, lrScale: 1, halvings: 0, divergences: [] },
    epochs: [],
    checkpoints: [checkpoint(2, top, accuracy), checkpoint(1, 1000, 0)],
    sessions: [],
  };
}

describe('verdict rules', () => {
  it('with seeds on both sides: agrees, disagrees or cannot tell by 2 seed spreads', () => {
    const a = [10, 11, 12];
    const b = [5, 5.5, 6];
    const c = compareVariants('x', 'top eigenvalue', a, b);
    expect(c.effect).toBeCloseTo(11 - 5.5, 12);
    expect(c.spread).toBeCloseTo(Math.sqrt(sd(a) ** 2 + sd(b) ** 2), 12);
    expect(c.outcome).toBe('agrees');
    expect(compareVariants('x', 'm', [2, 2.1, 1.9], [5, 5.2, 4.8]).outcome).toBe('disagrees');
    // a real difference of means (1) but seeds that scatter by 4: cannot tell
    const noisy = compareVariants('x', 'm', [10, 14, 6], [9, 8, 10]);
    expect(noisy.outcome).toBe('cannot tell');
    expect(noisy.reason).toMatch(/<= 2 x spread/);
    // just below and just above the bar: sd [1, 3] = sqrt(2) on each side, so the spread is 2
    const bar = VERDICT_RULES.spreadFactor * 2;
    expect(compareVariants('x', 'm', [1 + bar * 0.99, 3 + bar * 0.99], [1, 3]).outcome).toBe('cannot tell');
    expect(compareVariants('x', 'm', [1 + bar * 1.01, 3 + bar * 1.01], [1, 3]).outcome).toBe('agrees');
  });

  it('with a single seed: a factor of 2 either way, else cannot tell; nothing to compare is cannot tell', () => {
    expect(compareVariants('x', 'm', [10], [4]).outcome).toBe('agrees');
    expect(compareVariants('x', 'm', [10], [6]).outcome).toBe('cannot tell');
    expect(compareVariants('x', 'm', [3], [7]).outcome).toBe('disagrees');
    expect(compareVariants('x', 'm', [3, 3.1], [7]).reason).toMatch(/single seed on one side/);
    expect(compareVariants('x', 'm', [-3], [7]).outcome).toBe('cannot tell');
    const missing = compareVariants('x', 'm', [], [7]);
    expect(missing.outcome).toBe('cannot tell');
    expect(missing.reason).toMatch(/no finished run of A/);
  });

  it('a claim needs a majority of its comparisons and no contrary one', () => {
    const agree = compareVariants('x', 'm', [10], [1]);
    const disagree = compareVariants('x', 'm', [1], [10]);
    const unsure = compareVariants('x', 'm', [10], [9]);
    expect(claimOutcome([agree, agree, unsure]).outcome).toBe('agrees');
    expect(claimOutcome([agree, unsure, unsure]).outcome).toBe('cannot tell');
    expect(claimOutcome([agree, disagree, agree]).outcome).toBe('cannot tell');
    expect(claimOutcome([disagree, disagree]).outcome).toBe('disagrees');
    expect(claimOutcome([]).outcome).toBe('cannot tell');
  });

  it("Spearman's rho with exact permutation p-values for few points", () => {
    expect(ranks([3, 1, 3, 2])).toEqual([3.5, 1, 3.5, 2]);
    const down = spearmanTest([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]);
    expect(down.rho).toBeCloseTo(-1, 12);
    // one order in 5! is as extreme
    expect(down.pLower).toBeCloseTo(1 / 120, 12);
    expect(down.pUpper).toBe(1);
    // rho of ranks [1..5] against [1, 2, 3.5, 5, 3.5]: 1 - 6 sum d^2 / (n (n^2 - 1)) does not hold with ties, so Pearson of the ranks by hand
    const ry = [1, 2, 3.5, 5, 3.5];
    const mx = 3;
    const my = ry.reduce((a, b) => a + b, 0) / 5;
    const num = [1, 2, 3, 4, 5].reduce((a, x, i) => a + (x - mx) * (ry[i]! - my), 0);
    const den = Math.sqrt([1, 2, 3, 4, 5].reduce((a, x) => a + (x - mx) ** 2, 0) * ry.reduce((a, y) => a + (y - my) ** 2, 0));
    expect(spearmanTest([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]).rho).toBeCloseTo(num / den, 12);
    // many points: seeded Monte Carlo, the same p-value every time
    const x = Array.from({ length: 12 }, (_, i) => i);
    const y = x.map((v) => -v + (v % 3));
    const t = spearmanTest(x, y);
    expect(t).toEqual(spearmanTest(x, y));
    expect(t.pLower).toBeLessThan(0.01);
  });
});

describe('the verdicts on hand-made studies', () => {
  it('agree, disagree and cannot tell, each from its comparisons', () => {
    const runs: StudyRunResult[] = [];
    for (const depth of [20, 56]) {
      for (const seed of [0, 1, 2]) {
        const j = seed * 0.1;
        runs.push(run(depth, 'bn-res', seed, 10 + j, 0.9));
        runs.push(run(depth, 'bn-nores', seed, 30 + j, 0.8));
        runs.push(run(depth, 'nobn-res', seed, depth === 20 ? 5 + j : 40 + j, depth === 20 ? 0.85 : 0.7));
        runs.push(run(depth, 'nobn-nores', seed, 60 + j, 0.6));
        // stage 3 flatter than stage 1: the stage claim disagrees
        runs.push(run(depth, 'nobn-stage1', seed, 20 + j, 0.88));
        runs.push(run(depth, 'nobn-stage3', seed, 12 + j, 0.89));
      }
    }
    const v = Object.fromEntries(studyVerdicts(runs).map((x) => [x.claim, x]));
    expect(v.residual!.outcome).toBe('agrees');
    expect(v.residual!.comparisons).toHaveLength(4);
    // deep (56) is sharper without BN; the shallow 20 is flatter, which the claim allows
    expect(v.batchnorm!.outcome).toBe('agrees');
    expect(v.batchnorm!.comparisons.map((c) => c.what)).toEqual([expect.stringMatching(/^ResNet-56/)]);
    expect(v.batchnorm!.decidedBy).toMatch(/shallowest, not judged/);
    expect(v.stages!.outcome).toBe('disagrees');
    expect(v['sharpness-accuracy']!.outcome).toBe('agrees');
    expect(v['sharpness-accuracy']!.correlation!.n).toBe(36);
    expect(v['sharpness-accuracy']!.correlation!.rho).toBeLessThan(-0.5);
  });

  it('cannot tell from a network that did not train (final training loss near ln(classes)), and leaves it out of the correlation', () => {
    const runs: StudyRunResult[] = [];
    for (const seed of [0, 1, 2]) {
      runs.push(run(20, 'bn-res', seed, 10 + seed * 0.1, 0.9));
      runs.push(run(20, 'bn-nores', seed, 30 + seed * 0.1, 0.5 + seed * 0.01));
    }
    // the same numbers decide 'agrees' when both sides trained
    expect(studyVerdicts(runs, 10).find((x) => x.claim === 'residual')!.outcome).toBe('agrees');
    // one seed of the no-residual network ends at 0.96 x ln(10): it never left chance
    runs[3]!.checkpoints[0]!.trainLoss = 0.96 * Math.log(10);
    const v = Object.fromEntries(studyVerdicts(runs, 10).map((x) => [x.claim, x]));
    expect(v.residual!.outcome).toBe('cannot tell');
    expect(v.residual!.comparisons[0]!.reason).toMatch(/did not train .*chance, 2\.3.*: bn-nores at 2\.21/);
    expect(v['sharpness-accuracy']!.correlation!.n).toBe(5);
    expect(v['sharpness-accuracy']!.decidedBy).toMatch(/1 run that did not train left out/);
    // just below the line (0.94 x chance) it counts as trained; without the class count nothing is judged untrained
    runs[3]!.checkpoints[0]!.trainLoss = 0.94 * Math.log(10);
    expect(studyVerdicts(runs, 10).find((x) => x.claim === 'residual')!.outcome).toBe('agrees');
    runs[3]!.checkpoints[0]!.trainLoss = 5;
    expect(studyVerdicts(runs).find((x) => x.claim === 'residual')!.outcome).toBe('agrees');
  });

  it('cannot tell: spread larger than the effect, one depth for the BN claim, too few runs to correlate, variants missing', () => {
    const runs = [
      run(32, 'bn-res', 0, 10),
      run(32, 'bn-res', 1, 20),
      run(32, 'bn-nores', 0, 12),
      run(32, 'bn-nores', 1, 22),
      run(32, 'nobn-res', 0, 50),
      run(32, 'nobn-res', 1, 52, 0.5, 'diverged'),
    ];
    const v = Object.fromEntries(studyVerdicts(runs).map((x) => [x.claim, x]));
    expect(v.residual!.outcome).toBe('cannot tell');
    expect(v.residual!.comparisons[0]!.reason).toMatch(/spread/);
    expect(v.batchnorm!.outcome).toBe('cannot tell');
    expect(v.batchnorm!.decidedBy).toMatch(/at least two depths/);
    expect(v.stages!.outcome).toBe('cannot tell');
    expect(v.stages!.decidedBy).toMatch(/none of the variants/);
    // five finished runs, all at the same accuracy: no correlation to speak of
    expect(v['sharpness-accuracy']!.outcome).toBe('cannot tell');
    expect(v['sharpness-accuracy']!.correlation).toMatchObject({ rho: 0, n: 5 });
    const four = studyVerdicts(runs.slice(0, 4)).find((x) => x.claim === 'sharpness-accuracy')!;
    expect(four.outcome).toBe('cannot tell');
    expect(four.decidedBy).toMatch(/4 finished runs .*needs at least 5/);
    // the diverged run is not in the table's numbers but counted
    const row = studyTable(runs).find((r) => r.variant === 'nobn-res')!;
    expect(row).toMatchObject({ seeds: 2, finished: 1, diverged: 1 });
    expect(row.topEigenvalue!.values).toEqual([50]);
    // the last checkpoint is the final one, whatever the order stored
    expect(studyTable(runs).find((r) => r.variant === 'bn-res')!.topEigenvalue).toEqual({ mean: 15, sd: Math.sqrt(50), values: [10, 20] });
  });
});
