/**
 * The training loop of PyHessian's training.py: SGD with momentum and weight decay on mean
 * cross-entropy, BN in train mode (running statistics updated after every step, as PyTorch does),
 * per-epoch train and test figures, a checkpoint after every epoch, and exact resumption.
 *
 * Resumption is exact because nothing random is carried from step to step: epoch e's order and
 * augmentation come from (seed, e) through the DataLoader, the learning rate is a pure function of
 * (epoch, step), and the optimiser state is the momentum buffer, which the checkpoint keeps.
 */
import { DataLoader, type Dataset, type Normalization } from '../data/index.js';
import { NonFiniteError, OptionError } from '../errors.js';
import { checkClassCount, lossAndGradient, top1Correct, type Model } from '../nn/index.js';
import { DivergenceError } from './divergence.js';
import { evaluate } from './evaluate.js';
import { lrSchedule, type ScheduleSpec, type WarmupSpec } from './schedule.js';
import { Sgd } from './sgd.js';
import type { EpochProgressSums, EpochRecord, ResumeState, TrainCheckpointer, TrainConfig, TrainState } from './state.js';
import { validateResumeState } from './validateResumeState.js';

export interface StepProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  /** this batch's mean loss, before the update */
  loss: number;
  lr: number;
  batchSize: number;
  /** images per second of this step, data loading included */
  imagesPerSecond: number;
}

export interface RetryNotice {
  error: DivergenceError;
  /** the factor now applied to the scheduled learning rate */
  lrScale: number;
  retriesLeft: number;
}

export interface TrainOptions {
  trainSet: Dataset;
  /** evaluated after every epoch (eval-mode BN) when given */
  testSet?: Dataset;
  epochs: number;
  /** default 128 */
  batchSize?: number;
  /** default 256 */
  testBatchSize?: number;
  /** drop the last, smaller batch of each epoch (default false, as PyTorch's DataLoader) */
  dropLast?: boolean;
  /** peak learning rate, default 0.1 */
  lr?: number;
  /** default 0.9 */
  momentum?: number;
  /** L2 on every parameter, default 5e-4 */
  weightDecay?: number;
  /** default false */
  nesterov?: boolean;
  /** default: PyHessian's multi-step decay by 0.1 at 4/9 and 2/3 of the run (epochs 80 and 120 of 180) */
  schedule?: ScheduleSpec;
  warmup?: WarmupSpec;
  /** seeds the data order and augmentation (the model's initialisation has its own seed); default 0 */
  seed?: number;
  /** random crop with padding 4 and horizontal flip, default true */
  augment?: boolean;
  /** per-channel normalisation of train and test batches; default none (raw [0, 1] pixels). PyHessian uses CIFAR10_NORMALIZATION. */
  normalize?: Normalization | null;
  onProgress?: (p: StepProgress) => void;
  onEpoch?: (r: EpochRecord) => void;
  /** after a divergence, when `retryOnDivergence` allows another try */
  onRetry?: (r: RetryNotice) => void;
  /** stop cleanly after the current step; the state reached is checkpointed and returned */
  signal?: AbortSignal;
  /** called after every epoch, and when stopped by the signal mid-epoch; never with a diverged state */
  checkpoint?: TrainCheckpointer;
  /** continue a run: the model must already hold the checkpoint's weights and buffers */
  resumeFrom?: ResumeState;
  /** on divergence, restart the epoch from its start with the learning rate multiplied by lrFactor (default 0.5), up to `times` times */
  retryOnDivergence?: { times: number; lrFactor?: number };
}

export interface TrainResult {
  history: EpochRecord[];
  /** true when all epochs ran; false when the signal stopped the run */
  completed: boolean;
  /** the state reached (the model is the one passed in) */
  state: TrainState;
}

/** PyHessian's milestones [80, 120] of 180 epochs, scaled to a run of `epochs`. */
export function pyhessianMilestones(epochs: number): number[] {
  return [Math.round((epochs * 80) / 180), Math.round((epochs * 120) / 180)].filter((m) => m > 0 && m < epochs);
}

function firstNonFinite(v: Float32Array): number {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return i;
  return -1;
}

function sameNormalization(a: Normalization | null, b: Normalization | null): boolean {
  if (!a || !b) return a === b;
  return a.mean.length === b.mean.length && a.mean.every((m, i) => m === b.mean[i]) && a.std.every((s, i) => s === b.std[i]);
}

/** Refuses to resume with settings that change the data order, which would silently break exactness. */
function checkResumable(saved: TrainConfig, now: TrainConfig, model: Model, resume: ResumeState): void {
  const clash = (what: string, was: unknown, is: unknown) =>
    new OptionError(`the checkpoint was trained with ${what} ${JSON.stringify(was)} but ${JSON.stringify(is)} was given; resume with the same ${what}, or start a fresh run`);
  if (saved.seed !== now.seed) throw clash('seed', saved.seed, now.seed);
  if (saved.batchSize !== now.batchSize) throw clash('batch size', saved.batchSize, now.batchSize);
  if (saved.dropLast !== now.dropLast) throw clash('drop-last setting', saved.dropLast, now.dropLast);
  if (saved.augment !== now.augment) throw clash('augmentation setting', saved.augment, now.augment);
  if (!sameNormalization(saved.normalize, now.normalize)) throw clash('normalisation', saved.normalize, now.normalize);
  if (saved.trainSet.length !== now.trainSet.length) throw clash('training-set size', saved.trainSet.length, now.trainSet.length);
  if (resume.optimizer.momentumBuffer && resume.optimizer.momentumBuffer.length !== model.size) {
    throw new OptionError(`the checkpoint's optimiser state is for ${resume.optimizer.momentumBuffer.length} parameters but the model has ${model.size}; load the model from the same checkpoint`);
  }
  // every step before the last of an epoch is a full batch, so the sums must count exactly these samples
  if (resume.partial.seen !== resume.step * now.batchSize) {
    throw new OptionError(
      `the checkpoint's epoch sums count ${resume.partial.seen} samples, but ${resume.step} steps of ${now.batchSize} were run; the checkpoint is damaged: resume from an intact one or start a fresh run`,
    );
  }
}

/** What to restore when an epoch diverges: the state at the epoch's start (or the resume point). */
interface Snapshot {
  theta: Float32Array;
  buffers: Map<string, Float32Array>;
  batchesTracked: number;
  optimizer: ReturnType<Sgd['state']>;
  partial: EpochProgressSums;
  step: number;
}

function snapshot(model: Model, sgd: Sgd, partial: EpochProgressSums, step: number): Snapshot {
  return {
    theta: model.theta.slice(),
    buffers: new Map([...model.buffers].map(([k, t]) => [k, t.data.slice()])),
    batchesTracked: model.batchesTracked,
    optimizer: sgd.state(),
    partial: { ...partial },
    step,
  };
}

function restore(s: Snapshot, model: Model, sgd: Sgd): void {
  model.theta.set(s.theta);
  for (const [k, data] of s.buffers) model.buffers.get(k)!.data.set(data);
  model.batchesTracked = s.batchesTracked;
  sgd.loadState(s.optimizer);
}

const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function train(model: Model, options: TrainOptions): Promise<TrainResult> {
  const { trainSet, testSet, epochs } = options;
  if (!Number.isInteger(epochs) || epochs <= 0) throw new OptionError(`the number of epochs must be a positive integer, got ${epochs}`);
  if (trainSet.length === 0) throw new OptionError(`the training set ${trainSet.name} has no samples`);
  checkClassCount(model, trainSet);
  if (testSet) checkClassCount(model, testSet);
  const retry = options.retryOnDivergence;
  if (retry && (!Number.isInteger(retry.times) || retry.times < 0 || !(retry.lrFactor === undefined || (retry.lrFactor > 0 && retry.lrFactor < 1)))) {
    throw new OptionError(`retryOnDivergence needs a whole number of times ≥ 0 and an lrFactor strictly between 0 and 1, got ${JSON.stringify(retry)}`);
  }

  const config: TrainConfig = {
    seed: options.seed ?? 0,
    epochs,
    batchSize: options.batchSize ?? 128,
    dropLast: options.dropLast ?? false,
    augment: options.augment ?? true,
    normalize: options.normalize ?? null,
    lr: options.lr ?? 0.1,
    momentum: options.momentum ?? 0.9,
    weightDecay: options.weightDecay ?? 5e-4,
    nesterov: options.nesterov ?? false,
    schedule: options.schedule ?? { kind: 'multistep', milestones: pyhessianMilestones(epochs), gamma: 0.1 },
    warmup: options.warmup ?? null,
    trainSet: { name: trainSet.name, length: trainSet.length },
  };
  const loader = new DataLoader(trainSet, {
    batchSize: config.batchSize,
    shuffle: true,
    seed: config.seed,
    dropLast: config.dropLast,
    normalize: config.normalize,
    augment: config.augment,
  });
  const stepsPerEpoch = loader.length;
  if (stepsPerEpoch === 0) {
    throw new OptionError(`the training set ${trainSet.name} (${trainSet.length} samples) has no full batch of ${config.batchSize}; lower the batch size or keep the last batch`);
  }
  const lrAt = lrSchedule({ lr: config.lr, epochs, stepsPerEpoch, schedule: config.schedule, ...(config.warmup ? { warmup: config.warmup } : {}) });
  const sgd = new Sgd(model.size, { momentum: config.momentum, weightDecay: config.weightDecay, nesterov: config.nesterov });

  let epoch = 0;
  let startStep = 0;
  let partial: EpochProgressSums = { lossSum: 0, hits: 0, seen: 0, seconds: 0 };
  let history: EpochRecord[] = [];
  let lrScale = 1;
  const resume = options.resumeFrom && validateResumeState(options.resumeFrom);
  if (resume) {
    checkResumable(resume.config, config, model, resume);
    if (resume.step >= stepsPerEpoch) throw new OptionError(`the checkpoint stopped at step ${resume.step} but an epoch has ${stepsPerEpoch} steps`);
    sgd.loadState(resume.optimizer);
    epoch = resume.epoch;
    startStep = resume.step;
    partial = { ...resume.partial };
    history = resume.history.map((r) => ({ ...r }));
    lrScale = resume.lrScale;
  }
  let retriesLeft = retry?.times ?? 0;
  const state = (e: number, step: number): TrainState => ({
    model,
    epoch: e,
    step,
    optimizer: sgd.state(),
    partial: { ...partial },
    history: history.map((r) => ({ ...r })),
    lrScale,
    config,
  });

  const normalize = config.normalize;
  while (epoch < epochs) {
    const good = snapshot(model, sgd, partial, startStep);
    let stoppedAt = -1;
    try {
      let step = -1;
      let tick = performance.now();
      for (const batch of loader.epoch(epoch)) {
        step++;
        if (step < startStep) {
          tick = performance.now();
          continue;
        }
        if (options.signal?.aborted) {
          stoppedAt = step;
          break;
        }
        const lr = lrAt(epoch, step) * lrScale;
        let r: ReturnType<typeof lossAndGradient>;
        try {
          r = lossAndGradient(model, batch, { bnMode: 'train' });
        } catch (e) {
          if (e instanceof NonFiniteError) throw new DivergenceError(epoch, step, stepsPerEpoch, lr, `the training loss is not finite (${e.message})`);
          throw e;
        }
        const badGrad = firstNonFinite(r.gradient);
        if (badGrad >= 0) throw new DivergenceError(epoch, step, stepsPerEpoch, lr, `the gradient holds ${r.gradient[badGrad]} at parameter index ${badGrad}`);
        model.updateRunningStats(r.bnStats);
        sgd.step(model.theta, r.gradient, lr);
        const badTheta = firstNonFinite(model.theta);
        if (badTheta >= 0) throw new DivergenceError(epoch, step, stepsPerEpoch, lr, `the update made parameter ${badTheta} ${model.theta[badTheta]}`);

        const n = batch.y.length;
        const now = performance.now();
        const seconds = (now - tick) / 1000;
        tick = now;
        partial.lossSum += r.loss * n;
        partial.hits += top1Correct(r.logits, batch.y);
        partial.seen += n;
        partial.seconds += seconds;
        options.onProgress?.({ epoch, epochs, step, stepsPerEpoch, loss: r.loss, lr, batchSize: n, imagesPerSecond: n / seconds });
        // lets an abort from a signal handler or a timer arrive between steps
        await nextTick();
      }
      if (stoppedAt < 0) {
        const record: EpochRecord = {
          epoch,
          lr: lrAt(epoch, 0) * lrScale,
          trainLoss: partial.lossSum / partial.seen,
          trainAccuracy: partial.hits / partial.seen,
          seconds: partial.seconds,
          imagesPerSecond: partial.seen / partial.seconds,
        };
        if (testSet) {
          const t = evaluate(model, testSet, { batchSize: options.testBatchSize ?? 256, normalize, bnMode: 'eval' });
          if (!Number.isFinite(t.loss)) {
            throw new DivergenceError(epoch, stepsPerEpoch - 1, stepsPerEpoch, lrAt(epoch, stepsPerEpoch - 1) * lrScale, `the test loss after the epoch is ${t.loss}`);
          }
          record.testLoss = t.loss;
          record.testAccuracy = t.accuracy;
        }
        history.push(record);
      }
    } catch (e) {
      if (!(e instanceof DivergenceError)) throw e;
      // the model goes back to the last good state, which is what the last checkpoint holds
      restore(good, model, sgd);
      partial = { ...good.partial };
      if (retriesLeft <= 0) throw e;
      retriesLeft--;
      lrScale *= retry!.lrFactor ?? 0.5;
      startStep = good.step;
      options.onRetry?.({ error: e, lrScale, retriesLeft });
      continue;
    }
    if (stoppedAt >= 0) {
      const s = state(epoch, stoppedAt);
      if (stoppedAt > startStep) await options.checkpoint?.save(s);
      return { history: s.history, completed: false, state: s };
    }
    options.onEpoch?.(history.at(-1)!);
    epoch++;
    startStep = 0;
    partial = { lossSum: 0, hits: 0, seen: 0, seconds: 0 };
    await options.checkpoint?.save(state(epoch, 0));
  }
  const s = state(epoch, 0);
  return { history: s.history, completed: true, state: s };
}
