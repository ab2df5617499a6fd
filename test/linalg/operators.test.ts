import { describe, expect, it } from 'vitest';
import { NonFiniteError, ShapeError } from '../../src/errors.js';
import {
  applyBlock,
  countingOperator,
  denseOperator,
  diagonalOperator,
  symmetricEigen,
  symmetricWithSpectrum,
  type LinearOperator,
} from '../../src/linalg/index.js';
import { dot64, exactTrace, matvec64 } from './fixtures.js';

describe('test operators', () => {
  it('denseOperator multiplies like the matrix, from rows or a flat array', async () => {
    const rows = [
      [2, -1, 0],
      [-1, 3, 0.5],
      [0, 0.5, 1],
    ];
    const op = denseOperator(rows);
    expect(op.size).toBe(3);
    const y = await op.matvec(Float32Array.of(1, 2, 3));
    expect(Array.from(y)).toEqual([0, 6.5, 4]);
    const flat = denseOperator(Float64Array.from(rows.flat()), 3);
    expect(Array.from(await flat.matvec(Float32Array.of(1, 2, 3)))).toEqual([0, 6.5, 4]);
    expect(() => denseOperator(new Float64Array(8))).toThrow(ShapeError);
    expect(() => denseOperator([[1, 2], [3]])).toThrow(ShapeError);
  });

  it('diagonalOperator scales entries', async () => {
    const op = diagonalOperator([1, -2, 3]);
    expect(Array.from(await op.matvec(Float32Array.of(1, 1, 2)))).toEqual([1, -2, 6]);
  });

  it('applyBlock uses matmat when present, matvec otherwise, and counts either way', async () => {
    const withBlocks = countingOperator(diagonalOperator([1, 2]));
    const vs = [Float32Array.of(1, 0), Float32Array.of(0, 1), Float32Array.of(1, 1)];
    const out = await applyBlock(withBlocks, vs);
    expect(out.map((y) => Array.from(y))).toEqual([[1, 0], [0, 2], [1, 2]]);
    expect(withBlocks.matmatCalls).toBe(1);
    expect(withBlocks.matvecCalls).toBe(0);
    expect(withBlocks.products).toBe(3);

    const inner = diagonalOperator([1, 2]);
    const onlyMatvec = countingOperator({ size: 2, matvec: (v) => inner.matvec(v) });
    expect(onlyMatvec.matmat).toBeUndefined();
    await applyBlock(onlyMatvec, vs);
    expect(onlyMatvec.matvecCalls).toBe(3);
    expect(onlyMatvec.products).toBe(3);
    onlyMatvec.reset();
    expect(onlyMatvec.products).toBe(0);
  });

  it('applyBlock rejects wrong lengths and non-finite products with typed errors', async () => {
    const op = diagonalOperator([1, 2]);
    await expect(applyBlock(op, [new Float32Array(3)])).rejects.toThrow(ShapeError);
    const bad: LinearOperator = { size: 2, matvec: async () => Float32Array.of(1, NaN) };
    await expect(applyBlock(bad, [new Float32Array(2)])).rejects.toThrow(NonFiniteError);
    const short: LinearOperator = { size: 2, matvec: async () => new Float32Array(1) };
    await expect(applyBlock(short, [new Float32Array(2)])).rejects.toThrow(ShapeError);
  });

  it('symmetricWithSpectrum builds a symmetric matrix with exactly the given eigenpairs', () => {
    const eigenvalues = [5, 5, -2, 0, 1e-3, 7];
    const { matrix, eigenvectors, n } = symmetricWithSpectrum(eigenvalues, 11);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(matrix[i * n + j]).toBe(matrix[j * n + i]);
    eigenvectors.forEach((u, i) => {
      eigenvectors.forEach((w, j) => expect(dot64(u, w)).toBeCloseTo(i === j ? 1 : 0, 12));
      const au = matvec64(matrix, n, u);
      au.forEach((x, r) => expect(x).toBeCloseTo(eigenvalues[i]! * u[r]!, 12));
    });
    expect(exactTrace(matrix, n)).toBeCloseTo(eigenvalues.reduce((a, b) => a + b), 12);
    expect(symmetricWithSpectrum(eigenvalues, 11).matrix).toEqual(matrix);
    expect(symmetricWithSpectrum(eigenvalues, 12).matrix).not.toEqual(matrix);
  });

  it('symmetricEigen returns ascending eigenvalues with unit eigenvectors', () => {
    const { matrix, n } = symmetricWithSpectrum([3, -1, 2, 0.5], 4);
    const { values, vectors } = symmetricEigen(matrix, n);
    expect(Array.from(values).map((x) => +x.toFixed(10))).toEqual([-1, 0.5, 2, 3]);
    vectors.forEach((v, i) => {
      const av = matvec64(matrix, n, v);
      av.forEach((x, r) => expect(x).toBeCloseTo(values[i]! * v[r]!, 10));
    });
  });
});
