/**
 * Learning-rate schedules as pure functions of (epoch, step): nothing to save in a checkpoint and
 * nothing that drifts on resume. Epochs and steps count from 0.
 *
 * - 'multistep' is torch's MultiStepLR stepped once per epoch, as PyHessian's training.py does
 *   (lr 0.1, gamma 0.1, milestones [80, 120] of 180 epochs): during epoch e the rate is
 *   lr·gamma^(number of milestones ≤ e), so milestone 80 means the 81st epoch runs at lr/10.
 * - 'cosine' is torch's CosineAnnealingLR with T_max = epochs, stepped per epoch: during epoch e
 *   the rate is minLr + (lr − minLr)·(1 + cos(π·e/epochs))/2, reaching minLr (default 0) at the end.
 * - warm-up multiplies either by (k + 1)/K during the first K optimiser steps (k the global step,
 *   K = warm-up epochs × steps per epoch, or steps), a linear ramp from lr/K up to the scheduled
 *   rate, which is what deep networks without batch norm need to survive lr 0.1.
 */
import { OptionError } from '../errors.js';

export type ScheduleSpec =
  | { kind: 'constant' }
  | { kind: 'multistep'; milestones: readonly number[]; gamma?: number }
  | { kind: 'cosine'; minLr?: number };

/** Linear warm-up over a number of epochs or of optimiser steps (give one). */
export type WarmupSpec = { epochs: number } | { steps: number };

export interface LrScheduleOptions {
  /** the base (peak) learning rate */
  lr: number;
  /** length of the run, in epochs (cosine decays over it) */
  epochs: number;
  stepsPerEpoch: number;
  /** default constant */
  schedule?: ScheduleSpec;
  warmup?: WarmupSpec;
}

/** PyHessian's training.py defaults. */
export const PYHESSIAN_RECIPE = Object.freeze({
  lr: 0.1,
  epochs: 180,
  batchSize: 128,
  momentum: 0.9,
  weightDecay: 5e-4,
  schedule: Object.freeze({ kind: 'multistep', milestones: Object.freeze([80, 120]), gamma: 0.1 }) as ScheduleSpec,
});

export type LrSchedule = (epoch: number, step: number) => number;

function positiveInteger(what: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new OptionError(`${what} must be a positive integer, got ${v}`);
}

/** Checks the options once and returns lr(epoch, step). */
export function lrSchedule(opts: LrScheduleOptions): LrSchedule {
  const { lr, epochs, stepsPerEpoch } = opts;
  if (!Number.isFinite(lr) || lr <= 0) throw new OptionError(`the learning rate must be a positive number, got ${lr}`);
  positiveInteger('the number of epochs', epochs);
  positiveInteger('the number of steps per epoch', stepsPerEpoch);
  const spec = opts.schedule ?? { kind: 'constant' };
  let base: (epoch: number) => number;
  switch (spec.kind) {
    case 'constant':
      base = () => lr;
      break;
    case 'multistep': {
      const gamma = spec.gamma ?? 0.1;
      if (!Number.isFinite(gamma) || gamma <= 0) throw new OptionError(`the decay factor gamma must be a positive number, got ${gamma}`);
      for (const m of spec.milestones) {
        if (!Number.isInteger(m) || m <= 0) throw new OptionError(`learning-rate milestones must be positive integers (epochs), got ${m}`);
      }
      const milestones = [...spec.milestones];
      base = (e) => lr * gamma ** milestones.filter((m) => m <= e).length;
      break;
    }
    case 'cosine': {
      const minLr = spec.minLr ?? 0;
      if (!Number.isFinite(minLr) || minLr < 0 || minLr > lr) throw new OptionError(`the cosine schedule's minimum rate must lie in 0..${lr}, got ${minLr}`);
      base = (e) => minLr + ((lr - minLr) * (1 + Math.cos((Math.PI * Math.min(e, epochs)) / epochs))) / 2;
      break;
    }
    default:
      throw new OptionError(`unknown learning-rate schedule '${(spec as { kind: string }).kind}' (choose constant, multistep or cosine)`);
  }
  let warmSteps = 0;
  if (opts.warmup) {
    const w = opts.warmup;
    if ('epochs' in w) {
      positiveInteger('the warm-up length in epochs', w.epochs);
      warmSteps = w.epochs * stepsPerEpoch;
    } else {
      positiveInteger('the warm-up length in steps', w.steps);
      warmSteps = w.steps;
    }
  }
  return (epoch, step) => {
    if (!Number.isInteger(epoch) || epoch < 0 || !Number.isInteger(step) || step < 0) {
      throw new OptionError(`epoch and step must be non-negative integers, got epoch ${epoch}, step ${step}`);
    }
    const k = epoch * stepsPerEpoch + step;
    const ramp = k < warmSteps ? (k + 1) / warmSteps : 1;
    return base(epoch) * ramp;
  };
}
