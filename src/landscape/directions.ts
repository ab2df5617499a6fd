import { OptionError } from '../errors.js';
import type { Model } from '../nn/index.js';
import { Rng } from '../tensor/index.js';

export interface RandomDirectionOptions {
  seed: number;
  /** include biases and BN parameters (Li et al. leave them out by default) */
  includeBiasBn?: boolean;
}

/**
 * A random direction normalised filter by filter (Li et al., 2018): Gaussian entries, then each
 * filter (an output channel of a conv weight, a row of a linear weight) is scaled to the norm of
 * the same filter of the weights. Biases and BN parameters get 0, or, when included, the
 * weights themselves (as the loss-landscape code does for one-dimensional parameters).
 */
export function filterNormalizedDirection(model: Model, opts: RandomDirectionOptions): Float32Array {
  const rng = new Rng(opts.seed, 0x1a4d);
  const d = new Float32Array(model.size);
  for (const b of model.blocks) {
    const w = model.theta.subarray(b.offset, b.offset + b.length);
    const out = d.subarray(b.offset, b.offset + b.length);
    const isWeight = b.kind === 'conv.weight' || b.kind === 'linear.weight';
    if (!isWeight) {
      if (opts.includeBiasBn) out.set(w);
      continue;
    }
    rng.fillNormal(out);
    const filters = b.shape[0]!;
    const per = b.length / filters;
    for (let f = 0; f < filters; f++) {
      let dn = 0, wn = 0;
      for (let i = f * per; i < (f + 1) * per; i++) {
        dn += out[i]! * out[i]!;
        wn += w[i]! * w[i]!;
      }
      const s = dn > 0 ? Math.sqrt(wn) / Math.sqrt(dn) : 0;
      for (let i = f * per; i < (f + 1) * per; i++) out[i] = out[i]! * s;
    }
  }
  return d;
}

/** Checks a user-given direction against the model. */
export function checkDirection(model: Model, d: Float32Array, what: string): void {
  if (d.length !== model.size) throw new OptionError(`${what} has ${d.length} values but the model has ${model.size} parameters`);
}
