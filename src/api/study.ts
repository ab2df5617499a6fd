/**
 * `study(...)`: the batch-norm / residual study of the PyHessian paper as one resumable call. It
 * checks the settings, claims the study folder (a folder holding another study's settings is
 * refused), runs every run that has not finished (here one after the other, on local worker
 * processes, or as jobs on a Redis cluster), and writes results.json and the report with the
 * table and the verdicts. Run again after a stop, it continues where it stopped.
 */
import { resolve } from 'node:path';
import { kernelsForResults } from '../kernels/index.js';
import { createResults, makeFolder, writeReport, type HesseResults, type StudyResult } from '../report/index.js';
import { OptionError } from '../errors.js';
import { resolveRedisUrl, taskWorkerSlots } from '../parallel/index.js';
import { runOnCluster, type StudyClusterOptions } from './studyCluster.js';
import type { RunRecordOptions } from './commandResults.js';
import { count } from './check.js';
import { openStudyData, type StudyData } from './studyData.js';
import type { StudyRecipe } from './studyPresets.js';
import { runStudyRun, type StudyEvent } from './studyRun.js';
import { runFolder, readRunResult } from './studyRunFiles.js';
import { collectRuns, studySection } from './studySection.js';
import { estimateStudy, estimateWorkers, type StudyEstimate } from './studyEstimate.js';
import { claimStudyFolder, loadStudySettings, resolveStudySettings, runsOf, type StudySettings } from './studySettings.js';
import type { StudyRun } from './studyVariants.js';
import { runOnProcesses } from './studyProcesses.js';

export interface StudyOptions extends Partial<StudyRecipe>, RunRecordOptions {
  /** which study (default and only: 'bn-residual') */
  study?: string;
  /** smoke, laptop or paper: sizes for a test, a laptop or a cluster; what is given beside it overrides it */
  preset?: string;
  /** the study folder: study.json, runs/ID/ per run, results.json and the report */
  out: string;
  /** runs side by side, each in a worker process of its own (default 1: one after the other in this process) */
  parallel?: number;
  /** one run per job on a Redis + BullMQ cluster of `hesse study-worker` processes */
  cluster?: StudyClusterOptions;
  /** write the report (index.html, plots/) beside results.json; default true, PNG copies too */
  report?: false | { png?: boolean };
  /**
   * Before any run starts: the cost of the runs to do, measured on this machine in a few seconds.
   * Return false to stop there (nothing is written).
   */
  onEstimate?: (e: StudyEstimate) => boolean | Promise<boolean>;
  signal?: AbortSignal;
  onEvent?: (e: StudyEvent) => void;
  /** a line about what is being done ('measuring this machine ...') */
  onNote?: (line: string) => void;
}

export interface StudyOutput {
  settings: StudySettings;
  dir: string;
  /** every run finished */
  completed: boolean;
  /** false when onEstimate declined: nothing ran and nothing was written */
  started: boolean;
  estimate?: StudyEstimate;
  /** the study section and the results object (what results.json holds); absent when nothing started */
  section?: StudyResult;
  results?: HesseResults;
  /** 'new' study folder, or 'continued' from what it held */
  folder: 'new' | 'continued';
}

/** Where the runs run: given the runs to do, does them (each into its folder) until done or stopped. */
export interface RunPlaceContext {
  dir: string;
  settings: StudySettings;
  data: StudyData;
  signal?: AbortSignal;
  onEvent?: (e: StudyEvent) => void;
}

async function runHere(runs: readonly StudyRun[], c: RunPlaceContext): Promise<void> {
  for (const run of runs) {
    if (c.signal?.aborted) return;
    await runStudyRun(runFolder(c.dir, run.id), c.settings, run, c.data, { ...(c.signal ? { signal: c.signal } : {}), ...(c.onEvent ? { onEvent: c.onEvent } : {}) });
  }
}

/** The study's settings from the options (preset, then the caller's), checked, without running anything. */
export function studySettings(o: Omit<StudyOptions, 'out'>): StudySettings {
  const { study, preset, out: _out, parallel: _p, cluster: _c, report: _r, onEstimate: _e, signal: _s, onEvent: _o, onNote: _n, inputs: _i, commandLine: _l, ...recipe } = o as StudyOptions;
  return resolveStudySettings({ ...recipe, ...(study !== undefined ? { study } : {}), ...(preset !== undefined ? { preset } : {}) });
}

export async function study(o: StudyOptions): Promise<StudyOutput> {
  const settings = studySettings(o);
  const parallel = count('the number of parallel worker processes', o.parallel, 1);
  if (o.cluster && o.parallel !== undefined) throw new OptionError('give the study either local worker processes (parallel) or a cluster, not both');
  const dir = resolve(o.out);
  const folder = await claimStudyFolder(dir, settings, false);
  const data = await openStudyData(settings);
  const todo: StudyRun[] = [];
  for (const run of runsOf(settings)) if (!(await readRunResult(runFolder(dir, run.id)))) todo.push(run);
  let estimate: StudyEstimate | undefined;
  if (o.onEstimate && todo.length > 0) {
    o.onNote?.(`measuring this machine for an estimate of the cost of ${todo.length} run${todo.length === 1 ? '' : 's'} ...`);
    // on a cluster: the slots of the workers serving the run now
    const clusterSlots = o.cluster ? await taskWorkerSlots(resolveRedisUrl(o.cluster.redisUrl), o.cluster.runName ?? 'hesse') : undefined;
    estimate = await estimateStudy(settings, data, todo, estimateWorkers(todo.length, { parallel, ...(clusterSlots !== undefined ? { clusterSlots } : {}) }));
    if (!(await o.onEstimate(estimate))) return { settings, dir, folder, completed: false, started: false, estimate };
  }
  await makeFolder(dir);
  await claimStudyFolder(dir, settings);
  const t0 = performance.now();
  const place: RunPlaceContext = { dir, settings, data, ...(o.signal ? { signal: o.signal } : {}), ...(o.onEvent ? { onEvent: o.onEvent } : {}) };
  if (todo.length > 0) {
    if (o.cluster) await runOnCluster(todo, place, o.cluster);
    else if (parallel > 1 && todo.length > 1) await runOnProcesses(todo, place, parallel);
    else await runHere(todo, place);
  }
  const out = await studyResults(dir, settings, data, { ...o, ...(estimate ? { estimate } : {}), elapsedMs: performance.now() - t0 });
  return { ...out, settings, dir, folder, started: true, ...(estimate ? { estimate } : {}) };
}

/** The results object of a study folder as it stands (runs not finished are marked pending), written with its report. */
async function studyResults(dir: string, settings: StudySettings, data: StudyData, o: Pick<StudyOptions, 'report' | 'commandLine' | 'inputs'> & { estimate?: StudyEstimate; elapsedMs: number }) {
  const runs = await collectRuns(dir, settings, data.train.classes);
  const section = studySection(settings, runs, o.estimate, data.train.classes);
  const completed = section.finished === section.total;
  const sum = (f: (c: StudyResult['runs'][number]['checkpoints'][number]) => number) => runs.reduce((t, r) => t + r.checkpoints.reduce((u, c) => u + f(c), 0), 0);
  const trainMs = runs.reduce((t, r) => t + r.epochs.reduce((u, e) => u + e.seconds * 1000, 0), 0);
  const depths = settings.depths.join(', ');
  const results = createResults({
    command: 'study',
    ...kernelsForResults(),
    ...(o.commandLine ? { argv: o.commandLine } : {}),
    inputs: {
      model: { description: `CIFAR ResNets of depth ${depths}, width ${settings.width}: ${settings.variants.length} variants x ${settings.seeds.length} seed${settings.seeds.length === 1 ? '' : 's'}`, ...o.inputs?.model },
      data: { description: data.description, source: settings.data, classes: data.train.classes, ...o.inputs?.data },
      samples: { train: data.train.length, test: data.test.length, hessian: settings.hessianBatch === null ? data.train.length : Math.min(settings.hessianBatch, data.train.length) },
    },
    options: { seed: settings.seeds[0]!, ...(section.settings as Record<string, never>) },
    timings: { train: trainMs, curvature: sum((c) => c.ms), thisSession: o.elapsedMs },
    products: { eigen: sum((c) => c.eigenProducts), eigenColdCheck: sum((c) => c.cold?.products ?? 0), trace: sum((c) => c.traceProducts), density: sum((c) => c.density.steps * c.density.probes) },
    results: { study: section },
  });
  if (!completed) results.interrupted = true;
  if (o.report !== false) await writeReport(dir, results, { png: o.report?.png ?? true });
  return { section, results, completed };
}

/** The study in `dir` as it stands, without running anything (what `hesse study --summary` prints). */
export async function studySummary(dirGiven: string, o: Pick<StudyOptions, 'report'> = {}): Promise<StudyOutput> {
  const dir = resolve(dirGiven);
  const settings = await loadStudySettings(dir);
  const data = await openStudyData(settings);
  const out = await studyResults(dir, settings, data, { elapsedMs: 0, report: o.report ?? false });
  return { ...out, settings, dir, folder: 'continued', started: false };
}
