import type { LinearOperator } from './linearOperator.js';

/** An operator that forwards to another and counts what it was asked for. */
export interface CountingOperator extends LinearOperator {
  /** Products computed (a block of k vectors counts k). */
  readonly products: number;
  readonly matvecCalls: number;
  readonly matmatCalls: number;
  reset(): void;
}

/** Wraps `op` to count products; it offers `matmat` exactly when `op` does. */
export function countingOperator(op: LinearOperator): CountingOperator {
  let products = 0;
  let matvecCalls = 0;
  let matmatCalls = 0;
  const counted: CountingOperator = {
    size: op.size,
    get products() {
      return products;
    },
    get matvecCalls() {
      return matvecCalls;
    },
    get matmatCalls() {
      return matmatCalls;
    },
    reset() {
      products = matvecCalls = matmatCalls = 0;
    },
    async matvec(v) {
      matvecCalls++;
      products++;
      return op.matvec(v);
    },
  };
  const inner = op.matmat?.bind(op);
  if (inner) {
    (counted as { matmat?: LinearOperator['matmat'] }).matmat = async (vs) => {
      matmatCalls++;
      products += vs.length;
      return inner(vs);
    };
  }
  return counted;
}
