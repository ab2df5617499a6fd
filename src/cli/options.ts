import { InvalidArgumentError } from 'commander';

/** A commander parser for an integer option with a minimum. */
export function intOption(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer of at least ${min}, got '${value}'`);
    return n;
  };
}

/** A commander parser for a finite number option. */
export function numberOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got '${value}'`);
    return n;
  };
}
