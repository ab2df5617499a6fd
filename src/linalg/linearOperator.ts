import { NonFiniteError, ShapeError } from '../errors.js';

/**
 * A symmetric linear map on flat vectors of length `size`, seen only through its products.
 * Products are asynchronous so the same algorithms run on a dense test matrix, on one batch in
 * this process, or on a dataset sharded over workers. A product must be a fresh array: the
 * algorithms take ownership of it and may overwrite it.
 */
export interface LinearOperator {
  readonly size: number;
  matvec(v: Float32Array): Promise<Float32Array>;
  /**
   * The products with a block of k vectors, in order. Operators that can carry several tangents
   * through one pass implement it; they may split a large block into chunks internally.
   */
  matmat?(vs: Float32Array[]): Promise<Float32Array[]>;
}

/**
 * The products of `op` with every vector of `vs`: one `matmat` call when the operator has one and
 * the block holds more than one vector, otherwise `matvec` one vector after another. Every result
 * is checked for length and finiteness, because a NaN from a diverged loss would otherwise poison
 * every later estimate silently.
 */
export async function applyBlock(op: LinearOperator, vs: Float32Array[]): Promise<Float32Array[]> {
  for (const v of vs) {
    if (v.length !== op.size) {
      throw new ShapeError(`a vector of length ${v.length} was given to an operator of size ${op.size}; pass vectors of length ${op.size}`);
    }
  }
  let out: Float32Array[];
  if (vs.length > 1 && op.matmat) {
    out = await op.matmat(vs);
    if (out.length !== vs.length) {
      throw new ShapeError(`matmat returned ${out.length} products for a block of ${vs.length} vectors; it must return one product per vector`);
    }
  } else {
    out = [];
    for (const v of vs) out.push(await op.matvec(v));
  }
  for (const y of out) checkProduct(op, y);
  return out;
}

function checkProduct(op: LinearOperator, y: Float32Array): void {
  if (!(y instanceof Float32Array) || y.length !== op.size) {
    throw new ShapeError(`the operator returned a product of length ${y.length} for size ${op.size}; a product must be a Float32Array of length ${op.size}`);
  }
  for (let i = 0; i < y.length; i++) {
    if (!Number.isFinite(y[i]!)) {
      throw new NonFiniteError(`the operator returned a non-finite value (${y[i]}) at index ${i}; check the model and loss for NaN or overflow before estimating curvature`);
    }
  }
}
