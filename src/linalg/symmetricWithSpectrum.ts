import { Matrix, QrDecomposition } from 'ml-matrix';
import { Rng } from '../tensor/rng.js';

/** A dense symmetric matrix together with its exact eigen-decomposition. */
export interface MatrixWithSpectrum {
  n: number;
  /** Row-major n x n. */
  matrix: Float64Array;
  eigenvalues: Float64Array;
  /** eigenvectors[i] is the unit eigenvector of eigenvalues[i]. */
  eigenvectors: Float64Array[];
}

/**
 * Q diag(eigenvalues) Q^T with Q drawn uniformly (Haar) from the orthogonal group: the QR
 * factorisation of a Gaussian matrix, with the columns' signs fixed by R's diagonal (without that
 * fix Q is not uniformly distributed).
 */
export function symmetricWithSpectrum(eigenvalues: ArrayLike<number>, seed: number): MatrixWithSpectrum {
  const n = eigenvalues.length;
  const rng = new Rng(seed);
  const g = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g.set(i, j, rng.normal());
  const qr = new QrDecomposition(g);
  const q = qr.orthogonalMatrix;
  const r = qr.upperTriangularMatrix;
  const eigenvectors: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const s = r.get(j, j) < 0 ? -1 : 1;
    const col = new Float64Array(n);
    for (let i = 0; i < n; i++) col[i] = s * q.get(i, j);
    eigenvectors.push(col);
  }
  const lam = Float64Array.from(eigenvalues);
  const matrix = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const u = eigenvectors[k]!;
    const l = lam[k]!;
    if (l === 0) continue;
    for (let i = 0; i < n; i++) {
      const li = l * u[i]!;
      const row = i * n;
      for (let j = i; j < n; j++) matrix[row + j] = matrix[row + j]! + li * u[j]!;
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) matrix[i * n + j] = matrix[j * n + i]!;
  return { n, matrix, eigenvalues: lam, eigenvectors };
}
