import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

/** Eigenpairs of a small dense symmetric matrix, eigenvalues ascending. */
export interface SymmetricEigen {
  values: Float64Array;
  /** vectors[i] is the unit eigenvector of values[i]. */
  vectors: Float64Array[];
}

/**
 * The eigen-decomposition of the leading p x p block of a row-major symmetric matrix with row
 * stride `stride`, by ml-matrix (Householder tridiagonalisation and implicit QL).
 */
export function symmetricEigen(a: Float64Array, p: number, stride = p): SymmetricEigen {
  const m = new Matrix(p, p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < p; j++) m.set(i, j, 0.5 * (a[i * stride + j]! + a[j * stride + i]!));
  }
  const evd = new EigenvalueDecomposition(m, { assumeSymmetric: true });
  const d = evd.realEigenvalues;
  const v = evd.eigenvectorMatrix;
  const order = Array.from({ length: p }, (_, i) => i).sort((x, y) => d[x]! - d[y]!);
  const values = new Float64Array(p);
  const vectors: Float64Array[] = [];
  order.forEach((col, r) => {
    values[r] = d[col]!;
    const vec = new Float64Array(p);
    for (let i = 0; i < p; i++) vec[i] = v.get(i, col);
    vectors.push(vec);
  });
  return { values, vectors };
}

/** The Ritz values and Gauss quadrature weights of a symmetric tridiagonal matrix. */
export function tridiagonalEigen(alpha: ArrayLike<number>, beta: ArrayLike<number>): SymmetricEigen {
  const p = alpha.length;
  const t = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    t[i * p + i] = alpha[i]!;
    if (i + 1 < p) t[i * p + i + 1] = t[(i + 1) * p + i] = beta[i]!;
  }
  return symmetricEigen(t, p);
}
