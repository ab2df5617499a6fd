import { HesseError } from '../errors.js';

/** What the remedies of a divergence are called where the message is read: option names in code, flags on a command line. */
export interface DivergenceRemedyNames {
  /** the peak learning rate */
  lr: string;
  /** the learning-rate warm-up */
  warmup: string;
}

/** The names of `train()`'s options, which a library message uses. */
export const TRAIN_OPTION_NAMES: DivergenceRemedyNames = { lr: 'option lr', warmup: 'option warmup' };

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
    super('');
    this.message = this.describe(TRAIN_OPTION_NAMES);
  }

  /** The message, with the remedies named as `names` says (the CLI gives its flags). */
  describe(names: DivergenceRemedyNames): string {
    return (
      `training diverged at epoch ${this.epoch + 1}, step ${this.step + 1} of ${this.stepsPerEpoch} (learning rate ${this.lr}): ${this.detail}. ` +
      `The last good checkpoint, if one was being written, is kept. Lower the learning rate (${names.lr}), warm it up (${names.warmup}), ` +
      `or use batch norm; networks without it often diverge at lr 0.1.`
    );
  }
}
