import { OptionError } from '../errors.js';

/**
 * Checks of the operations' options. Errors name the option as the library does ('the number of
 * Lanczos steps'), never a command-line flag: the same message serves a library caller and the
 * command, which passes its flags through unchanged.
 */

/** An integer of at least `min`, or `fallback` when absent. */
export function count(what: string, value: number | undefined, fallback: number, min = 1): number {
  const x = value ?? fallback;
  if (!Number.isInteger(x) || x < min) throw new OptionError(`${what} must be an integer of at least ${min}, got ${x}`);
  return x;
}

/** A seed: any integer (default 0). */
export function seedOf(value: number | undefined): number {
  const x = value ?? 0;
  if (!Number.isSafeInteger(x)) throw new OptionError(`the seed must be an integer, got ${x}`);
  return x;
}

/** A finite number > 0 (and below `below` when given), or undefined when absent. */
export function positive(what: string, value: number | undefined, below?: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value <= 0 || (below !== undefined && value >= below)) {
    throw new OptionError(`${what} must be a number above 0${below !== undefined ? ` and below ${below}` : ''}, got ${value}`);
  }
  return value;
}

/** One of `choices`, or `fallback` when absent. */
export function choice<T extends string>(what: string, value: T | undefined, choices: readonly T[], fallback: T): T {
  const x = value ?? fallback;
  if (!choices.includes(x)) throw new OptionError(`${what} must be one of ${choices.join(', ')}, got '${String(x)}'`);
  return x;
}

/** A stage's request: absent or false (off), true (on, with defaults) or its options. */
export type Request<O> = boolean | O | undefined;

/** The options of a request that is on, or undefined when it is off. */
export function requested<O extends object>(what: string, r: Request<O>): Partial<O> | undefined {
  if (r === undefined || r === false) return undefined;
  if (r === true) return {};
  if (typeof r !== 'object' || r === null) throw new OptionError(`${what} must be true, false or an options object, got ${JSON.stringify(r)}`);
  return r;
}
