/**
 * Whether a study's numbers agree with each of the PyHessian paper's claims on batch norm and
 * residual connections. Each claim rests on comparisons of two variants' top eigenvalue at the end
 * of training (or, for the last claim, on a rank correlation over all runs), and every verdict
 * follows from the rules below, which the README repeats. A verdict the numbers do not decide
 * is 'cannot tell', with the reason.
 */
import type { StudyComparison, StudyOutcome, StudyRunResult, StudyVerdict } from '../report/index.js';
import { Rng } from '../tensor/index.js';
import { cell, finalCheckpoint } from './studyTable.js';
import { variantSpec } from './studyVariants.js';

export const VERDICT_RULES = Object.freeze({
  /** with >= 2 seeds on each side: the difference of the means must exceed this many seed spreads */
  spreadFactor: 2,
  /** with a single seed on a side: the sharper side's value must be at least this many times the other's */
  singleSeedFactor: 2,
  /** the rank correlation's one-sided permutation p-value must be below this */
  correlationLevel: 0.05,
  /** and needs at least this many finished runs */
  correlationRuns: 5,
  /** permutations drawn (seeded) when the runs are too many to enumerate all orders */
  permutations: 20000,
  /** a run whose final training loss is at least this fraction of chance (ln of the class count) did not train: its curvature is not a minimum's */
  untrainedLossFraction: 0.95,
});

const R = VERDICT_RULES;

/** The decision rules in words, as the results and the report state them. */
export const VERDICT_RULE_TEXT: readonly string[] = Object.freeze([
  `A comparison sets variant A (the one the claim says is sharper) against variant B on the top Hessian eigenvalue at the end of training, over the seeds that finished.`,
  `With at least 2 seeds on both sides: agrees when mean(A) - mean(B) > ${R.spreadFactor} x spread, disagrees when mean(B) - mean(A) > ${R.spreadFactor} x spread, where spread = sqrt(sd(A)^2 + sd(B)^2) is the seed-to-seed spread of a difference; otherwise cannot tell (the spread is larger than the effect).`,
  `With a single seed on a side (no spread to measure): agrees when A >= ${R.singleSeedFactor} x B, disagrees when B >= ${R.singleSeedFactor} x A (both positive); otherwise cannot tell. A factor of ${R.singleSeedFactor} is a rule of thumb for an effect larger than seed noise, not a measured spread: run more seeds for a firmer verdict.`,
  `A run whose final training loss is at least ${R.untrainedLossFraction} x ln(classes) (the loss of guessing) did not train; a comparison with such a run on either side cannot tell.`,
  `A claim agrees when more than half of its comparisons agree and none disagrees, disagrees when more than half disagree and none agrees, and otherwise cannot tell (too few decided, or mixed).`,
  `"Sharper minima go with lower test accuracy": Spearman's rank correlation between the final top eigenvalue and the final test accuracy over all finished runs (at least ${R.correlationRuns}); agrees when the one-sided permutation p-value for a negative correlation is below ${R.correlationLevel}, disagrees when that for a positive one is, otherwise cannot tell.`,
]);

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? x.toExponential(2) : String(Number(x.toPrecision(3)));
}

function showValues(xs: readonly number[]): string {
  const c = cell(xs)!;
  return c.sd === undefined ? fmt(c.mean) : `${fmt(c.mean)} ± ${fmt(c.sd)} (${xs.length} seeds)`;
}

/** One comparison by the rules above: `a` are A's values over seeds, `b` B's. */
export function compareVariants(what: string, metric: string, a: readonly number[], b: readonly number[]): StudyComparison {
  const base = { what, metric, a: [...a], b: [...b] };
  if (a.length === 0 || b.length === 0) {
    const missing = a.length === 0 ? 'A' : 'B';
    return { ...base, effect: Number.NaN, spread: null, outcome: 'cannot tell', reason: `no finished run of ${missing}` };
  }
  const ca = cell(a)!;
  const cb = cell(b)!;
  const effect = ca.mean - cb.mean;
  const numbers = `${showValues(a)} vs ${showValues(b)}`;
  if (ca.sd !== undefined && cb.sd !== undefined) {
    const spread = Math.hypot(ca.sd, cb.sd);
    const bar = R.spreadFactor * spread;
    let outcome: StudyOutcome = 'cannot tell';
    if (effect > bar) outcome = 'agrees';
    else if (-effect > bar) outcome = 'disagrees';
    const relation = outcome === 'cannot tell' ? `|difference| ${fmt(Math.abs(effect))} <= ${R.spreadFactor} x spread ${fmt(spread)}` : `difference ${fmt(effect)}, ${R.spreadFactor} x spread ${fmt(bar)}`;
    return { ...base, effect, spread, outcome, reason: `${numbers}: ${relation}` };
  }
  const seeds = `single seed${a.length === 1 && b.length === 1 ? '' : ' on one side'}`;
  if (!(ca.mean > 0 && cb.mean > 0)) {
    return { ...base, effect, spread: null, outcome: 'cannot tell', reason: `${numbers}: ${seeds}, and the factor rule needs positive values` };
  }
  const ratio = ca.mean / cb.mean;
  let outcome: StudyOutcome = 'cannot tell';
  if (ratio >= R.singleSeedFactor) outcome = 'agrees';
  else if (1 / ratio >= R.singleSeedFactor) outcome = 'disagrees';
  const relation = outcome === 'cannot tell' ? `ratio ${fmt(ratio)} is within a factor ${R.singleSeedFactor}` : `ratio ${fmt(ratio)}`;
  return { ...base, effect, spread: null, outcome, reason: `${numbers}: ${seeds}, ${relation}` };
}

/** A claim's verdict from its comparisons (the majority rule above). */
export function claimOutcome(comparisons: readonly StudyComparison[]): { outcome: StudyOutcome; why: string } {
  const n = comparisons.length;
  if (n === 0) return { outcome: 'cannot tell', why: 'the study has none of the variants this claim compares' };
  const agree = comparisons.filter((c) => c.outcome === 'agrees').length;
  const disagree = comparisons.filter((c) => c.outcome === 'disagrees').length;
  const tally = `${agree} of ${n} comparison${n === 1 ? '' : 's'} agree, ${disagree} disagree`;
  if (agree > n / 2 && disagree === 0) return { outcome: 'agrees', why: tally };
  if (disagree > n / 2 && agree === 0) return { outcome: 'disagrees', why: tally };
  if (agree > 0 && disagree > 0) return { outcome: 'cannot tell', why: `${tally}: mixed` };
  return { outcome: 'cannot tell', why: `${tally}: too few decided` };
}

/** Average ranks (ties share the mean of their ranks), 1-based. */
export function ranks(xs: readonly number[]): number[] {
  const order = xs.map((v, i) => ({ v, i })).sort((p, q) => p.v - q.v);
  const out = new Array<number>(xs.length);
  for (let k = 0; k < order.length; ) {
    let j = k;
    while (j + 1 < order.length && order[j + 1]!.v === order[k]!.v) j++;
    for (let t = k; t <= j; t++) out[order[t]!.i] = (k + j) / 2 + 1;
    k = j + 1;
  }
  return out;
}

function pearson(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy);
}

/**
 * Spearman's rho and its one-sided permutation p-values: over every order of y when there are at
 * most 8 points, else over `permutations` seeded random orders (with the +1 correction).
 */
export function spearmanTest(x: readonly number[], y: readonly number[], permutations: number = R.permutations, seed = 0): { rho: number; pLower: number; pUpper: number } {
  const rx = ranks(x);
  const ry = ranks(y);
  const rho = pearson(rx, ry);
  const eps = 1e-12;
  let lower = 0;
  let upper = 0;
  let total = 0;
  const tally = (perm: readonly number[]) => {
    const r = pearson(rx, perm);
    if (r <= rho + eps) lower++;
    if (r >= rho - eps) upper++;
    total++;
  };
  if (ry.length <= 8) {
    const heap = (k: number, a: number[]): void => {
      if (k === 1) return tally(a);
      for (let i = 0; i < k; i++) {
        heap(k - 1, a);
        const j = k % 2 === 0 ? i : 0;
        [a[j], a[k - 1]] = [a[k - 1]!, a[j]!];
      }
    };
    heap(ry.length, [...ry]);
    return { rho, pLower: lower / total, pUpper: upper / total };
  }
  const rng = new Rng(seed);
  for (let t = 0; t < permutations; t++) {
    const p = rng.permutation(ry.length);
    tally(Array.from(p, (i) => ry[i]!));
  }
  return { rho, pLower: (lower + 1) / (total + 1), pUpper: (upper + 1) / (total + 1) };
}

type Finals = Map<string, { value: number; accuracy: number | undefined; trainLoss: number; untrained: boolean }[]> & { chance: number };

function finalsByKey(runs: readonly StudyRunResult[], classes: number | undefined): Finals {
  const chance = classes !== undefined && classes > 1 ? Math.log(classes) : Number.NaN;
  const out = Object.assign(new Map(), { chance }) as Finals;
  for (const r of runs) {
    const c = finalCheckpoint(r);
    const top = c?.topEigenvalues[0];
    if (!c || top === undefined || !Number.isFinite(top)) continue;
    const key = `${r.depth}/${r.variant}`;
    const untrained = !(c.trainLoss < R.untrainedLossFraction * chance) && Number.isFinite(chance);
    out.set(key, [...(out.get(key) ?? []), { value: top, accuracy: c.testAccuracy, trainLoss: c.trainLoss, untrained }]);
  }
  return out;
}

function has(runs: readonly StudyRunResult[], depth: number, variant: string): boolean {
  return runs.some((r) => r.depth === depth && r.variant === variant);
}

function pair(runs: readonly StudyRunResult[], finals: Finals, depth: number, a: string, b: string, what: string): StudyComparison | undefined {
  if (!has(runs, depth, a) || !has(runs, depth, b)) return undefined;
  const of = (v: string) => finals.get(`${depth}/${v}`) ?? [];
  const values = (v: string) => of(v).map((f) => f.value);
  const untrained = [a, b].filter((v) => of(v).some((f) => f.untrained));
  if (untrained.length > 0) {
    const c = compareVariants(what, 'top eigenvalue', values(a), values(b));
    const losses = untrained.map((v) => `${v} at ${of(v).filter((f) => f.untrained).map((f) => fmt(f.trainLoss)).join(', ')}`).join(', ');
    return { ...c, outcome: 'cannot tell', reason: `${c.reason}; but did not train (final training loss near chance, ${fmt(finals.chance)}): ${losses}` };
  }
  return compareVariants(what, 'top eigenvalue', values(a), values(b));
}

function verdict(claim: StudyVerdict['claim'], statement: string, comparisons: StudyComparison[], extra = ''): StudyVerdict {
  const { outcome, why } = claimOutcome(comparisons);
  const numbers = comparisons.map((c) => `${c.what}: ${c.reason}`).join('; ');
  return { claim, statement, outcome, decidedBy: [why, numbers, extra].filter(Boolean).join(' | '), comparisons };
}

/**
 * The verdict on each of the paper's four claims, from the runs' final checkpoints. With `classes`
 * (the data's class count), a comparison with a run that did not train cannot tell.
 */
export function studyVerdicts(runs: readonly StudyRunResult[], classes?: number): StudyVerdict[] {
  const finals = finalsByKey(runs, classes);
  const depths = [...new Set(runs.map((r) => r.depth))].sort((a, b) => a - b);
  const label = (v: string) => variantSpec(v).label;
  const some = <T>(xs: (T | undefined)[]) => xs.filter((x): x is T => x !== undefined);

  const residual = verdict(
    'residual',
    'Removing residual connections sharpens the minimum (raises the top eigenvalue).',
    some(depths.flatMap((d) => [
      pair(runs, finals, d, 'bn-nores', 'bn-res', `ResNet-${d} with BN: no residual vs residual`),
      pair(runs, finals, d, 'nobn-nores', 'nobn-res', `ResNet-${d} without BN: no residual vs residual`),
    ])),
  );

  const deep = depths.slice(1);
  const shallow = depths[0];
  const shallowNote =
    shallow !== undefined && deep.length > 0 && pair(runs, finals, shallow, 'nobn-res', 'bn-res', '')
      ? `shallowest, not judged (the claim allows either): ${pair(runs, finals, shallow, 'nobn-res', 'bn-res', `ResNet-${shallow}`)!.reason}`
      : depths.length === 1
        ? 'needs at least two depths to tell deep from shallow networks'
        : '';
  const batchnorm = verdict(
    'batchnorm',
    'Removing batch norm sharpens deep networks (not necessarily shallow ones).',
    some(deep.map((d) => pair(runs, finals, d, 'nobn-res', 'bn-res', `ResNet-${d} (deep): ${label('nobn-res')} vs ${label('bn-res')}`))),
    shallowNote,
  );

  const stages = verdict(
    'stages',
    'Batch norm matters more in later stages: removing it from stage 3 sharpens more than removing it from stage 1.',
    some(depths.map((d) => pair(runs, finals, d, 'nobn-stage3', 'nobn-stage1', `ResNet-${d}: ${label('nobn-stage3')} vs ${label('nobn-stage1')}`))),
  );

  // minima only: runs that did not train are left out of the correlation
  const all = [...finals.values()].flat();
  const untrained = all.filter((p) => p.untrained).length;
  const points = all.filter((p) => !p.untrained && p.accuracy !== undefined && Number.isFinite(p.accuracy)).map((p) => ({ value: p.value, accuracy: p.accuracy! }));
  const leftOut = untrained ? ` (${untrained} run${untrained === 1 ? '' : 's'} that did not train left out)` : '';
  let sharpness: StudyVerdict;
  const statement = 'Sharper minima go with lower test accuracy.';
  if (points.length < R.correlationRuns) {
    sharpness = { claim: 'sharpness-accuracy', statement, outcome: 'cannot tell', decidedBy: `${points.length} finished run${points.length === 1 ? '' : 's'} with a test accuracy${leftOut}; the rank correlation needs at least ${R.correlationRuns}`, comparisons: [] };
  } else {
    const t = spearmanTest(points.map((p) => p.value), points.map((p) => p.accuracy));
    let outcome: StudyOutcome = 'cannot tell';
    if (t.pLower < R.correlationLevel) outcome = 'agrees';
    else if (t.pUpper < R.correlationLevel) outcome = 'disagrees';
    sharpness = {
      claim: 'sharpness-accuracy',
      statement,
      outcome,
      decidedBy: `Spearman rho ${fmt(t.rho)} between the top eigenvalue and the test accuracy over ${points.length} runs; permutation p ${fmt(t.pLower)} for a negative, ${fmt(t.pUpper)} for a positive correlation (level ${R.correlationLevel})${leftOut}`,
      comparisons: [],
      correlation: { rho: t.rho, pLower: t.pLower, pUpper: t.pUpper, n: points.length },
    };
  }
  return [residual, batchnorm, stages, sharpness];
}
