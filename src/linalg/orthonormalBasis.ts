import { norm, normalize, orthogonalize } from './vector.js';

/**
 * An orthonormal basis of the span of `vs` (overwritten), by Gram-Schmidt applied twice.
 * Columns that fall below `relTol` times the largest input norm are dropped, so a sketch of a
 * rank-deficient operator yields a basis of its true rank, not of rounding noise.
 */
export function orthonormalBasis(vs: Float32Array[], relTol = 1e-6): Float32Array[] {
  let largest = 0;
  for (const v of vs) largest = Math.max(largest, norm(v));
  const q: Float32Array[] = [];
  if (largest === 0) return q;
  for (const v of vs) {
    orthogonalize(v, q);
    if (norm(v) > relTol * largest) {
      normalize(v);
      q.push(v);
    }
  }
  return q;
}
