import { ShapeError } from '../errors.js';
import type { LinearOperator } from './linearOperator.js';

/**
 * The operator of an explicit n x n matrix (row-major Float64Array or rows), for tests and for
 * small dense Hessians. Products are computed in float64 and rounded to float32 once, so the
 * operator is as exact as a float32 product can be.
 */
export function denseOperator(a: Float64Array | readonly (readonly number[])[], n?: number): LinearOperator {
  let m: Float64Array;
  let size: number;
  if (a instanceof Float64Array) {
    size = n ?? Math.round(Math.sqrt(a.length));
    if (size * size !== a.length) {
      throw new ShapeError(`a dense operator of size ${size} needs ${size * size} entries, got ${a.length}; pass n with an n*n row-major array`);
    }
    m = a;
  } else {
    size = a.length;
    if (n !== undefined && n !== size) throw new ShapeError(`the matrix has ${size} rows but n = ${n}`);
    m = new Float64Array(size * size);
    a.forEach((row, i) => {
      if (row.length !== size) throw new ShapeError(`row ${i} has ${row.length} entries; a square matrix of size ${size} needs ${size}`);
      for (let j = 0; j < size; j++) m[i * size + j] = row[j]!;
    });
  }
  const matvec = (v: Float32Array): Float32Array => {
    const y = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      let s = 0;
      const base = i * size;
      for (let j = 0; j < size; j++) s += m[base + j]! * v[j]!;
      y[i] = s;
    }
    return y;
  };
  return {
    size,
    matvec: async (v) => matvec(v),
    matmat: async (vs) => vs.map(matvec),
  };
}

/** The operator diag(d). */
export function diagonalOperator(d: ArrayLike<number>): LinearOperator {
  const diag = Float64Array.from(d);
  const size = diag.length;
  const matvec = (v: Float32Array): Float32Array => {
    const y = new Float32Array(size);
    for (let i = 0; i < size; i++) y[i] = diag[i]! * v[i]!;
    return y;
  };
  return { size, matvec: async (v) => matvec(v), matmat: async (vs) => vs.map(matvec) };
}
