import { OptionError } from '../errors.js';
import type { Rng } from '../tensor/rng.js';

export type ProbeDistribution = 'rademacher' | 'gaussian';

/** A random probe vector of length n drawn from `distribution` (entries of mean 0, variance 1). */
export function drawProbe(rng: Rng, n: number, distribution: ProbeDistribution): Float32Array {
  const v = new Float32Array(n);
  if (distribution === 'rademacher') rng.fillRademacher(v);
  else rng.fillNormal(v);
  return v;
}

export function checkDistribution(d: string): ProbeDistribution {
  if (d !== 'rademacher' && d !== 'gaussian') {
    throw new OptionError(`unknown probe distribution '${d}'; use 'rademacher' or 'gaussian'`);
  }
  return d;
}
