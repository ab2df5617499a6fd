/**
 * Everything a training run needs to continue exactly where it stopped. Together with the seed,
 * this is the whole state: the data order and augmentation of epoch e follow from (seed, e) and
 * the learning rate from (epoch, step), so neither a generator position nor a scheduler is saved.
 */
import type { Normalization } from '../data/index.js';
import type { Model } from '../nn/index.js';
import type { ScheduleSpec, WarmupSpec } from './schedule.js';
import type { SgdState } from './sgd.js';

/** One finished epoch. Epochs count from 0; `seconds` and `imagesPerSecond` are wall-clock, everything else is deterministic. */
export interface EpochRecord {
  epoch: number;
  /** the learning rate of the epoch's first step */
  lr: number;
  /** mean training loss over the epoch's samples (train-mode BN, before each step's update), as PyHessian prints */
  trainLoss: number;
  trainAccuracy: number;
  testLoss?: number;
  testAccuracy?: number;
  seconds: number;
  imagesPerSecond: number;
}

/** Sums over the finished steps of an unfinished epoch, so a run resumed mid-epoch reports the same epoch figures. */
export interface EpochProgressSums {
  lossSum: number;
  hits: number;
  seen: number;
  seconds: number;
}

/** The settings a run was started with; those that fix the data order must not change on resume. */
export interface TrainConfig {
  seed: number;
  epochs: number;
  batchSize: number;
  dropLast: boolean;
  augment: boolean;
  normalize: Normalization | null;
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  schedule: ScheduleSpec;
  warmup: WarmupSpec | null;
  trainSet: { name: string; length: number };
}

/** What a checkpoint holds besides the model (weights, BN buffers, batches tracked). */
export interface ResumeState {
  /** the next step to run is step `step` (0-based) of epoch `epoch` (0-based) */
  epoch: number;
  step: number;
  optimizer: SgdState;
  partial: EpochProgressSums;
  history: EpochRecord[];
  /** factor on the scheduled learning rate, lowered by automatic retries after divergence */
  lrScale: number;
  config: TrainConfig;
}

export interface TrainState extends ResumeState {
  model: Model;
}

/** Saves training states; the safetensors-backed one lives in io/ (trainCheckpoint.ts), which may import train/. */
export interface TrainCheckpointer {
  save(state: TrainState): Promise<void>;
}
