/**
 * The check of a resume state read from a checkpoint, field by field, before any training runs:
 * a damaged history entry or a missing epoch sum would otherwise surface only after a whole epoch
 * has trained, when the report is written, and the epoch's work would be lost.
 */
import { normalizationFrom } from '../data/index.js';
import { OptionError } from '../errors.js';
import { lrSchedule, type ScheduleSpec, type WarmupSpec } from './schedule.js';
import type { EpochProgressSums, EpochRecord, ResumeState, TrainConfig } from './state.js';

type Obj = Record<string, unknown>;

const show = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
};

function problem(at: string, what: string, v: unknown): OptionError {
  return new OptionError(`${at} must be ${what}, got ${show(v)}`);
}

function object(at: string, v: unknown): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw problem(at, 'an object', v);
  return v as Obj;
}

function finite(at: string, v: unknown, min = -Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw problem(at, min === -Infinity ? 'a finite number' : `a finite number ≥ ${min}`, v);
  return v;
}

function count(at: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw problem(at, `an integer ≥ ${min}`, v);
  return v;
}

function fraction(at: string, v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw problem(at, 'a fraction in [0, 1]', v);
  return v;
}

function bool(at: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw problem(at, 'true or false', v);
  return v;
}

/** Wall-clock figures: JSON writes a non-finite rate (a zero-length epoch) as null. */
function clock(at: string, v: unknown): number {
  if (v === null) return Number.NaN;
  return finite(at, v, 0);
}

function epochRecord(at: string, v: unknown, index: number): EpochRecord {
  const o = object(at, v);
  if (o.epoch !== index) throw problem(`${at}.epoch`, `${index} (one record per finished epoch, in order)`, o.epoch);
  const r: EpochRecord = {
    epoch: index,
    lr: finite(`${at}.lr`, o.lr, 0),
    trainLoss: finite(`${at}.trainLoss`, o.trainLoss, 0),
    trainAccuracy: fraction(`${at}.trainAccuracy`, o.trainAccuracy),
    seconds: clock(`${at}.seconds`, o.seconds),
    imagesPerSecond: clock(`${at}.imagesPerSecond`, o.imagesPerSecond),
  };
  if (o.testLoss !== undefined) r.testLoss = finite(`${at}.testLoss`, o.testLoss, 0);
  if (o.testAccuracy !== undefined) r.testAccuracy = fraction(`${at}.testAccuracy`, o.testAccuracy);
  return r;
}

function progressSums(at: string, v: unknown): EpochProgressSums {
  const o = object(at, v);
  const seen = count(`${at}.seen`, o.seen);
  const hits = count(`${at}.hits`, o.hits);
  if (hits > seen) throw problem(`${at}.hits`, `at most ${at}.seen (${seen})`, hits);
  return { lossSum: finite(`${at}.lossSum`, o.lossSum, 0), hits, seen, seconds: finite(`${at}.seconds`, o.seconds, 0) };
}

function schedule(at: string, v: unknown): ScheduleSpec {
  const o = object(at, v);
  const optionalNumber = (k: string) => {
    if (o[k] !== undefined && typeof o[k] !== 'number') throw problem(`${at}.${k}`, 'a number', o[k]);
  };
  switch (o.kind) {
    case 'constant':
      return { kind: 'constant' };
    case 'multistep':
      if (!Array.isArray(o.milestones) || !o.milestones.every((m) => typeof m === 'number')) throw problem(`${at}.milestones`, 'a list of epochs', o.milestones);
      optionalNumber('gamma');
      return { kind: 'multistep', milestones: [...(o.milestones as number[])], ...(o.gamma !== undefined ? { gamma: o.gamma as number } : {}) };
    case 'cosine':
      optionalNumber('minLr');
      return { kind: 'cosine', ...(o.minLr !== undefined ? { minLr: o.minLr as number } : {}) };
    default:
      throw problem(`${at}.kind`, "'constant', 'multistep' or 'cosine'", o.kind);
  }
}

function warmup(at: string, v: unknown): WarmupSpec | null {
  if (v === null) return null;
  const o = object(at, v);
  if (o.epochs !== undefined) return { epochs: count(`${at}.epochs`, o.epochs, 1) };
  return { steps: count(`${at}.steps`, o.steps, 1) };
}

function config(at: string, v: unknown): TrainConfig {
  const o = object(at, v);
  let normalize;
  try {
    normalize = normalizationFrom(o.normalize);
  } catch (e) {
    if (e instanceof OptionError) throw new OptionError(`${at}.normalize: ${e.message}`);
    throw e;
  }
  const trainSet = object(`${at}.trainSet`, o.trainSet);
  if (typeof trainSet.name !== 'string') throw problem(`${at}.trainSet.name`, 'a string', trainSet.name);
  const c: TrainConfig = {
    seed: finite(`${at}.seed`, o.seed),
    epochs: count(`${at}.epochs`, o.epochs, 1),
    batchSize: count(`${at}.batchSize`, o.batchSize, 1),
    dropLast: bool(`${at}.dropLast`, o.dropLast),
    augment: bool(`${at}.augment`, o.augment),
    normalize,
    lr: finite(`${at}.lr`, o.lr, 0),
    momentum: finite(`${at}.momentum`, o.momentum, 0),
    weightDecay: finite(`${at}.weightDecay`, o.weightDecay, 0),
    nesterov: bool(`${at}.nesterov`, o.nesterov),
    schedule: schedule(`${at}.schedule`, o.schedule),
    warmup: warmup(`${at}.warmup`, o.warmup),
    trainSet: { name: trainSet.name, length: count(`${at}.trainSet.length`, trainSet.length, 1) },
  };
  try {
    lrSchedule({ lr: c.lr, epochs: c.epochs, stepsPerEpoch: 1, schedule: c.schedule, ...(c.warmup ? { warmup: c.warmup } : {}) });
  } catch (e) {
    if (e instanceof OptionError) throw new OptionError(`${at}: ${e.message}`);
    throw e;
  }
  return c;
}

/**
 * Checks every field of a resume state (a checkpoint's JSON with its momentum buffer) and returns
 * it with the known fields only. Throws OptionError naming the first field that is wrong, e.g.
 * `history[1].trainLoss must be a finite number ≥ 0, got "abc"`.
 */
export function validateResumeState(value: unknown): ResumeState {
  const o = object('the training state', value);
  const epoch = count('epoch', o.epoch);
  const step = count('step', o.step);
  const optimizer = object('optimizer', o.optimizer);
  const buffer = optimizer.momentumBuffer;
  if (buffer !== null && !(buffer instanceof Float32Array)) throw problem('optimizer.momentumBuffer', 'a Float32Array or null', buffer);
  if (!Array.isArray(o.history)) throw problem('history', 'a list of epoch records', o.history);
  if (o.history.length !== epoch) throw problem('history', `${epoch} epoch records (one per finished epoch)`, `${o.history.length} records`);
  const lrScale = finite('lrScale', o.lrScale, 0);
  if (!(lrScale > 0 && lrScale <= 1)) throw problem('lrScale', 'a factor in (0, 1]', lrScale);
  return {
    epoch,
    step,
    optimizer: { momentumBuffer: buffer as Float32Array | null, steps: count('optimizer.steps', optimizer.steps) },
    partial: progressSums('partial', o.partial),
    history: o.history.map((r, i) => epochRecord(`history[${i}]`, r, i)),
    lrScale,
    config: config('config', o.config),
  };
}
