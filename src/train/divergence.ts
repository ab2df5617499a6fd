import { HesseError } from '../errors.js';

/**
 * Training blew up: the loss (or the gradient) became NaN or infinite. `epoch` and `step` count
 * from 0 and name the step whose loss was not finite; the weights were left as they were before
 * that step's update, and no checkpoint was written for the diverged epoch.
 */
export class DivergenceError extends HesseError {
  constructor(
    readonly epoch: number,
    readonly step: number,
    readonly stepsPerEpoch: number,
    readonly lr: number,
    readonly detail: string,
  ) {
    super(
      `training diverged at epoch ${epoch + 1}, step ${step + 1} of ${stepsPerEpoch} (learning rate ${lr}): ${detail}. ` +
        `The last good checkpoint, if one was being written, is kept. Lower the learning rate (--lr), warm it up (--warmup), ` +
        `or use batch norm; networks without it often diverge at lr 0.1.`,
    );
  }
}
