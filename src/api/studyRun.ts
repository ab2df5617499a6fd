/**
 * One run of a study (a variant at a depth with a seed), from wherever its folder says it stopped
 * to its end: training with `hesse train`'s recipe, the curvature at each checkpoint epoch, and
 * the result. A run that diverges at the base learning rate starts again with a linear warm-up,
 * and is then allowed to halve its rate a few times (train()'s retry); what it needed is recorded.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { loadTrainState, saveTrainState } from '../io/index.js';
import { buildModel, describeModel, type Model } from '../nn/index.js';
import type { Progress } from '../linalg/index.js';
import type { StudyCheckpoint, StudyRunResult } from '../report/index.js';
import { DivergenceError, train, type EpochRecord, type ResumeState } from '../train/index.js';
import { analyzeCheckpoint } from './studyCheckpoint.js';
import type { StudyData } from './studyData.js';
import { clearTraining, readCurvature, readRunLog, readRunResult, writeCurvature, writeRunLog, writeRunResult, type CurvatureState, type RunLog } from './studyRunFiles.js';
import { analysisEpochs, studySchedule, type StudySettings } from './studySettings.js';
import { runArchitecture, variantSpec, type StudyRun } from './studyVariants.js';
import { trainingSection } from './trainRun.js';

/** What a study reports while it runs; `run` is the run's id. */
export type StudyEvent =
  | { type: 'run-start'; run: string; from: { epoch: number; step: number }; model: string; attempt: RunLog['attempt'] }
  | { type: 'step'; run: string; epoch: number; epochs: number; step: number; steps: number }
  | { type: 'epoch'; run: string; record: EpochRecord }
  | { type: 'curvature'; run: string; stage: string; progress: Progress }
  | { type: 'checkpoint'; run: string; record: StudyCheckpoint }
  | { type: 'divergence'; run: string; message: string; next: string }
  | { type: 'run-end'; run: string; result: StudyRunResult };

export interface RunHooks {
  signal?: AbortSignal;
  onEvent?: (e: StudyEvent) => void;
  /** after every write to the run's folder, before the run goes on (the cluster mode ships the files then) */
  onSaved?: () => Promise<void>;
  /** a name for whoever runs it (a cluster worker's id), for the run's log */
  worker?: string;
  /** worker threads for the whole training set's products (default one per core) */
  workers?: number;
}

function halvingsOf(lrScale: number): number {
  return Math.round(Math.log2(1 / lrScale));
}

function needs(log: RunLog, lrScale: number): StudyRunResult['needed'] {
  return { warmup: log.attempt === 'warmup', lrScale, halvings: halvingsOf(lrScale), divergences: [...log.divergences] };
}

function sameArchitecture(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Runs (or continues) `run` in its folder `dir`. Resolves with its result, or undefined when the
 * signal stopped it, in which case its folder holds what it needs to continue.
 */
export async function runStudyRun(dir: string, s: StudySettings, run: StudyRun, data: StudyData, hooks: RunHooks = {}): Promise<StudyRunResult | undefined> {
  const done = await readRunResult(dir);
  if (done) return done;
  const emit = (e: StudyEvent) => hooks.onEvent?.(e);
  const saved = async () => {
    await hooks.onSaved?.();
  };
  const spec = variantSpec(run.variant);
  const arch = runArchitecture(run, s.width, data.train.classes);
  const checkpointPath = join(dir, 'checkpoint.safetensors');
  const epochsToAnalyse = new Set(analysisEpochs(s));
  const log = await readRunLog(dir);

  const result = (model: Model, status: StudyRunResult['status'], history: readonly EpochRecord[], curvature: CurvatureState, lrScale: number, failure?: string): StudyRunResult => ({
    id: run.id,
    depth: run.depth,
    variant: run.variant,
    label: spec.label,
    group: spec.group,
    seed: run.seed,
    batchNorm: spec.batchNorm,
    residual: spec.residual,
    parameters: model.size,
    status,
    needed: needs(log, lrScale),
    epochs: trainingSection(history).epochs,
    checkpoints: curvature.records,
    sessions: log.sessions,
    ...(failure ? { failure } : {}),
  });
  const finish = async (r: StudyRunResult) => {
    await writeRunResult(dir, r);
    await saved();
    emit({ type: 'run-end', run: run.id, result: r });
    return r;
  };

  for (;;) {
    let model: Model;
    let resume: ResumeState | undefined;
    try {
      const loaded = await loadTrainState(checkpointPath);
      if (!sameArchitecture(loaded.model.description, arch)) {
        throw new FileFormatError(`${checkpointPath} holds ${describeModel(loaded.model.description)}, not the run's ${describeModel(arch)}; remove the run's folder (${dir}) to run it again`);
      }
      model = loaded.model;
      resume = loaded.resume;
    } catch (e) {
      if (!(e instanceof FileFormatError && / no such file/.test(e.message))) throw e;
      model = buildModel(arch, run.seed);
    }
    const warmup = log.attempt === 'warmup' ? { epochs: s.warmupEpochs } : undefined;
    if (resume && (resume.config.warmup === null) !== (warmup === undefined)) {
      throw new FileFormatError(`${checkpointPath} was trained ${resume.config.warmup ? 'with' : 'without'} a warm-up, but the run's log says the ${log.attempt} recipe; remove the run's folder (${dir}) to run it again`);
    }
    const curvature = await readCurvature(dir, model.size);
    const from = resume ? { epoch: resume.epoch, step: resume.step } : { epoch: 0, step: 0 };
    log.sessions.push({ from, host: hostname(), pid: process.pid, ...(hooks.worker ? { worker: hooks.worker } : {}), startedAt: new Date().toISOString() });
    await writeRunLog(dir, log);
    await saved();
    emit({ type: 'run-start', run: run.id, from, model: `${describeModel(arch)}, ${model.size.toLocaleString('en-US')} parameters`, attempt: log.attempt });

    const context = {
      model,
      data,
      settings: s,
      seed: run.seed,
      ...(hooks.workers !== undefined ? { workers: hooks.workers } : {}),
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      onProgress: (stage: string, progress: Progress) => emit({ type: 'curvature', run: run.id, stage, progress }),
    };
    /** the curvature after `epoch` epochs, unless it is there already; false when the signal stopped it */
    const analyseAt = async (epoch: number, history: readonly EpochRecord[]): Promise<boolean> => {
      if (!epochsToAnalyse.has(epoch) || curvature.records.some((r) => r.epoch === epoch)) return true;
      const a = await analyzeCheckpoint(context, history[epoch - 1]!, curvature.warm);
      if (!a) return false;
      curvature.records.push(a.record);
      curvature.warm = a.eigenvector;
      await writeCurvature(dir, curvature);
      await saved();
      emit({ type: 'checkpoint', run: run.id, record: a.record });
      return true;
    };

    // killed between a checkpoint and its curvature: the curvature first
    if (resume && resume.step === 0 && resume.epoch > 0 && !(await analyseAt(resume.epoch, resume.history))) return undefined;
    if (resume && resume.epoch >= s.epochs) return finish(result(model, 'done', resume.history, curvature, resume.lrScale));

    const halvingsLeft = s.halvings - (resume ? halvingsOf(resume.lrScale) : 0);
    try {
      const r = await train(model, {
        trainSet: data.train,
        testSet: data.test,
        epochs: s.epochs,
        batchSize: s.batchSize,
        lr: s.lr,
        momentum: s.momentum,
        weightDecay: s.weightDecay,
        schedule: studySchedule(s),
        ...(warmup ? { warmup, retryOnDivergence: { times: Math.max(0, halvingsLeft), lrFactor: 0.5 } } : {}),
        augment: s.augment,
        normalize: data.normalize,
        seed: run.seed,
        ...(resume ? { resumeFrom: resume } : {}),
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        checkpoint: {
          save: async (state) => {
            // only epoch boundaries: a run resumed there retries a diverging epoch from the epoch's
            // start exactly as an uninterrupted run does (train() keeps no mid-epoch start state)
            if (state.step > 0) return;
            await writeRunLog(dir, log);
            await saveTrainState(checkpointPath, state);
            await saved();
            await analyseAt(state.epoch, state.history);
          },
        },
        onProgress: (p) => emit({ type: 'step', run: run.id, epoch: p.epoch, epochs: p.epochs, step: p.step, steps: p.stepsPerEpoch }),
        onEpoch: (record) => emit({ type: 'epoch', run: run.id, record }),
        onRetry: (n) => {
          log.divergences.push(n.error.message);
          emit({ type: 'divergence', run: run.id, message: n.error.message, next: `the epoch again with the learning rate x ${n.lrScale}` });
        },
      });
      if (!r.completed) {
        await writeRunLog(dir, log);
        await saved();
        return undefined;
      }
      // a stop during the last curvature leaves the run unfinished
      if (!curvature.records.some((c) => c.epoch === s.epochs)) return undefined;
      return finish(result(model, 'done', r.history, curvature, r.state.lrScale));
    } catch (e) {
      if (!(e instanceof DivergenceError)) throw e;
      log.divergences.push(e.message);
      if (log.attempt === 'base') {
        emit({ type: 'divergence', run: run.id, message: e.message, next: `a fresh start with a ${s.warmupEpochs}-epoch warm-up` });
        log.attempt = 'warmup';
        await clearTraining(dir);
        await writeRunLog(dir, log);
        await saved();
        continue;
      }
      // the checkpoint holds the last good state: the history and curvature up to the divergence;
      // the last try ran at the rate halved every time allowed
      const last = await loadTrainState(checkpointPath).catch(() => undefined);
      return finish(result(model, 'diverged', last?.resume.history ?? [], curvature, 0.5 ** s.halvings, e.message));
    }
  }
}
