/**
 * The study section of the results from what the run folders hold: every run (finished or not),
 * the table, the verdicts, and what the warm start of Lanczos saved.
 */
import type { JsonValue, StudyResult, StudyRunResult, StudyWarmStart } from '../report/index.js';
import { readCurvature, readRunLog, readRunResult, runFolder } from './studyRunFiles.js';
import { analysisEpochs, runsOf, type StudySettings } from './studySettings.js';
import { studyTable } from './studyTable.js';
import { VERDICT_RULE_TEXT, studyVerdicts } from './studyVerdict.js';
import { runArchitecture, variantSpec, type StudyRun } from './studyVariants.js';
import { parameterCount } from '../nn/index.js';

/** Over every checkpoint that ran both a warm and a cold Lanczos: the products each took. */
export function warmStartSaving(runs: readonly StudyRunResult[]): StudyWarmStart | null {
  let warm = 0;
  let cold = 0;
  let checkpoints = 0;
  let gap = 0;
  for (const r of runs) {
    for (const c of r.checkpoints) {
      if (!c.warmStart || !c.cold) continue;
      checkpoints++;
      warm += c.eigenProducts;
      cold += c.cold.products;
      const a = c.topEigenvalues[0]!;
      const b = c.cold.topEigenvalues[0]!;
      gap = Math.max(gap, Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-30));
    }
  }
  if (checkpoints === 0) return null;
  return { checkpoints, warmProducts: warm, coldProducts: cold, savedFraction: 1 - warm / cold, largestEigenvalueGap: gap };
}

/** A run not finished yet: what its folder holds so far (the checkpoints analysed). */
async function pendingRun(dir: string, s: StudySettings, run: StudyRun, classes: number): Promise<StudyRunResult> {
  const spec = variantSpec(run.variant);
  const parameters = parameterCount(runArchitecture(run, s.width, classes));
  const log = await readRunLog(dir);
  const curvature = await readCurvature(dir, parameters);
  return {
    id: run.id,
    depth: run.depth,
    variant: run.variant,
    label: spec.label,
    group: spec.group,
    seed: run.seed,
    batchNorm: spec.batchNorm,
    residual: spec.residual,
    parameters,
    status: 'pending',
    needed: { warmup: log.attempt === 'warmup', lrScale: 1, halvings: 0, divergences: log.divergences },
    epochs: [],
    checkpoints: curvature.records,
    sessions: log.sessions,
  };
}

export async function collectRuns(studyDir: string, s: StudySettings, classes: number): Promise<StudyRunResult[]> {
  const out: StudyRunResult[] = [];
  for (const run of runsOf(s)) {
    const dir = runFolder(studyDir, run.id);
    out.push((await readRunResult(dir)) ?? (await pendingRun(dir, s, run, classes)));
  }
  return out;
}

export function studySection(s: StudySettings, runs: StudyRunResult[], estimate?: StudyResult['estimate'], classes?: number): StudyResult {
  return {
    study: s.study,
    preset: s.preset,
    settings: s as unknown as { [key: string]: JsonValue },
    analysisEpochs: analysisEpochs(s),
    runs,
    table: studyTable(runs),
    verdicts: studyVerdicts(runs, classes),
    rules: [...VERDICT_RULE_TEXT],
    warmStart: warmStartSaving(runs),
    ...(estimate ? { estimate } : {}),
    finished: runs.filter((r) => r.status !== 'pending').length,
    total: runs.length,
  };
}
