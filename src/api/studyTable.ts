/**
 * The paper's table: one row per depth and variant (the BN x residual grid, then the stage-wise
 * variants), the numbers at the end of training, as mean and spread over the seeds that finished.
 */
import type { StudyCell, StudyCheckpoint, StudyRunResult, StudyTableRow } from '../report/index.js';
import { STUDY_VARIANTS } from './studyVariants.js';

/** Mean and sample standard deviation (n - 1); no spread for a single value. */
export function cell(values: readonly number[]): StudyCell | null {
  if (values.length === 0) return null;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length === 1) return { mean, values: [...values] };
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, sd: Math.sqrt(ss / (values.length - 1)), values: [...values] };
}

/** The curvature at the end of training of a finished run. */
export function finalCheckpoint(r: StudyRunResult): StudyCheckpoint | undefined {
  if (r.status !== 'done') return undefined;
  return r.checkpoints.reduce<StudyCheckpoint | undefined>((last, c) => (!last || c.epoch > last.epoch ? c : last), undefined);
}

function neededText(runs: readonly StudyRunResult[]): string {
  const n = runs.length;
  const warm = runs.filter((r) => r.needed.warmup).length;
  const halved = runs.filter((r) => r.needed.halvings > 0);
  const parts: string[] = [];
  if (warm > 0) parts.push(`warm-up in ${warm} of ${n} seed${n === 1 ? '' : 's'}`);
  if (halved.length > 0) parts.push(`learning rate halved (up to ${Math.max(...halved.map((r) => r.needed.halvings))}x) in ${halved.length} of ${n}`);
  return parts.join('; ');
}

/** The rows, depth by depth in ascending order, variants in the catalogue's order; only pairs the study has. */
export function studyTable(runs: readonly StudyRunResult[]): StudyTableRow[] {
  const depths = [...new Set(runs.map((r) => r.depth))].sort((a, b) => a - b);
  const rows: StudyTableRow[] = [];
  for (const group of ['grid', 'stages'] as const) {
    for (const depth of depths) {
      for (const v of STUDY_VARIANTS.filter((s) => s.group === group)) {
        const mine = runs.filter((r) => r.depth === depth && r.variant === v.name);
        if (mine.length === 0) continue;
        const finals = mine.map((r) => ({ r, c: finalCheckpoint(r) })).filter((x): x is { r: StudyRunResult; c: StudyCheckpoint } => x.c !== undefined);
        const pick = (f: (c: StudyCheckpoint) => number | undefined) => cell(finals.map((x) => f(x.c)).filter((v): v is number => v !== undefined && Number.isFinite(v)));
        rows.push({
          depth,
          variant: v.name,
          label: v.label,
          group,
          seeds: mine.length,
          finished: finals.length,
          diverged: mine.filter((r) => r.status === 'diverged').length,
          topEigenvalue: pick((c) => c.topEigenvalues[0]),
          trace: pick((c) => c.trace),
          trainLoss: pick((c) => c.trainLoss),
          testAccuracy: pick((c) => c.testAccuracy),
          needed: neededText(mine.filter((r) => r.status !== 'pending')),
        });
      }
    }
  }
  return rows;
}
