import { OptionError } from '../errors.js';

/** Checks that an option is an integer within [min, max], naming it in the error. */
export function checkInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new OptionError(`option '${name}' must be an integer ${range}, got ${value}`);
  }
  return value;
}

/** Checks that an option is a finite number > 0 (or >= 0 when zero is allowed). */
export function checkPositive(name: string, value: number, allowZero = false): number {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new OptionError(`option '${name}' must be a finite number ${allowZero ? '>= 0' : '> 0'}, got ${value}`);
  }
  return value;
}

export function checkSeed(seed: number): number {
  if (!Number.isFinite(seed) || !Number.isInteger(seed)) {
    throw new OptionError(`option 'seed' must be an integer, got ${seed}`);
  }
  return seed;
}
