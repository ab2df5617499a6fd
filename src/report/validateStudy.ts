/**
 * The check of a results file's study section: the fields the report's table, verdicts and plots
 * read, each of the right type (see validateResults.ts for the rules: null reads as NaN, unknown
 * fields are kept).
 */
import type { StudyCell, StudyCheckpoint, StudyResult, StudyRunResult, StudyTableRow, StudyVerdict } from './studyResults.js';
import { matrix, num, nums, object, optNum, ResultsShapeProblem, string } from './validateResults.js';

function array(at: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new ResultsShapeProblem(at, 'must be an array');
  return v;
}

function checkpoint(at: string, v: unknown): StudyCheckpoint {
  const o = object(at, v);
  const d = object(`${at}.density`, o.density);
  const nodes = matrix(`${at}.density.nodes`, d.nodes);
  const weights = matrix(`${at}.density.weights`, d.weights);
  if (weights.length !== nodes.length || weights.some((w, i) => w.length !== nodes[i]!.length)) {
    throw new ResultsShapeProblem(`${at}.density.weights`, 'must have the shape of density.nodes');
  }
  const out = {
    ...o,
    epoch: num(`${at}.epoch`, o.epoch),
    topEigenvalues: nums(`${at}.topEigenvalues`, o.topEigenvalues),
    trace: num(`${at}.trace`, o.trace),
    density: { ...d, nodes, weights },
    trainLoss: num(`${at}.trainLoss`, o.trainLoss),
  } as StudyCheckpoint;
  const acc = optNum(`${at}.testAccuracy`, o.testAccuracy);
  if (acc !== undefined) out.testAccuracy = acc;
  return out;
}

function run(at: string, v: unknown): StudyRunResult {
  const o = object(at, v);
  const status = string(`${at}.status`, o.status);
  if (!['done', 'diverged', 'pending'].includes(status)) throw new ResultsShapeProblem(`${at}.status`, "must be 'done', 'diverged' or 'pending'");
  return {
    ...o,
    id: string(`${at}.id`, o.id),
    depth: num(`${at}.depth`, o.depth),
    variant: string(`${at}.variant`, o.variant),
    label: string(`${at}.label`, o.label),
    seed: num(`${at}.seed`, o.seed),
    status,
    epochs: array(`${at}.epochs`, o.epochs),
    checkpoints: array(`${at}.checkpoints`, o.checkpoints).map((c, i) => checkpoint(`${at}.checkpoints[${i}]`, c)),
  } as StudyRunResult;
}

function cellOrNull(at: string, v: unknown): StudyCell | null {
  if (v === null || v === undefined) return null;
  const o = object(at, v);
  const sd = optNum(`${at}.sd`, o.sd);
  return { mean: num(`${at}.mean`, o.mean), values: nums(`${at}.values`, o.values), ...(sd !== undefined ? { sd } : {}) };
}

function row(at: string, v: unknown): StudyTableRow {
  const o = object(at, v);
  return {
    ...o,
    depth: num(`${at}.depth`, o.depth),
    variant: string(`${at}.variant`, o.variant),
    label: string(`${at}.label`, o.label),
    seeds: num(`${at}.seeds`, o.seeds),
    finished: num(`${at}.finished`, o.finished),
    diverged: num(`${at}.diverged`, o.diverged ?? 0),
    topEigenvalue: cellOrNull(`${at}.topEigenvalue`, o.topEigenvalue),
    trace: cellOrNull(`${at}.trace`, o.trace),
    trainLoss: cellOrNull(`${at}.trainLoss`, o.trainLoss),
    testAccuracy: cellOrNull(`${at}.testAccuracy`, o.testAccuracy),
    needed: string(`${at}.needed`, o.needed ?? ''),
  } as StudyTableRow;
}

function verdict(at: string, v: unknown): StudyVerdict {
  const o = object(at, v);
  const outcome = string(`${at}.outcome`, o.outcome);
  if (!['agrees', 'disagrees', 'cannot tell'].includes(outcome)) throw new ResultsShapeProblem(`${at}.outcome`, "must be 'agrees', 'disagrees' or 'cannot tell'");
  return { ...o, statement: string(`${at}.statement`, o.statement), outcome, decidedBy: string(`${at}.decidedBy`, o.decidedBy), comparisons: array(`${at}.comparisons`, o.comparisons ?? []) } as StudyVerdict;
}

export function study(at: string, v: unknown): StudyResult {
  const o = object(at, v);
  return {
    ...o,
    study: string(`${at}.study`, o.study),
    analysisEpochs: nums(`${at}.analysisEpochs`, o.analysisEpochs ?? []),
    runs: array(`${at}.runs`, o.runs).map((r, i) => run(`${at}.runs[${i}]`, r)),
    table: array(`${at}.table`, o.table).map((r, i) => row(`${at}.table[${i}]`, r)),
    verdicts: array(`${at}.verdicts`, o.verdicts).map((r, i) => verdict(`${at}.verdicts[${i}]`, r)),
    rules: array(`${at}.rules`, o.rules ?? []).map((r, i) => string(`${at}.rules[${i}]`, r)),
    finished: num(`${at}.finished`, o.finished),
    total: num(`${at}.total`, o.total),
  } as StudyResult;
}
