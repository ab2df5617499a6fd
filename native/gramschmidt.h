/* Classical Gram-Schmidt against an orthonormal float32 basis, in float64: the estimators' reorthogonalisation. */
#ifndef HESSE_GRAMSCHMIDT_H
#define HESSE_GRAMSCHMIDT_H

/*
 * `passes` times: c_j = <b_j, work> for every j, then work -= Σ_j c_j b_j, in a float64 copy
 * `work` of v, rounded into v once at the end; coeffs[j] += c_j (coeffs is not cleared). Every
 * dot product is summed in float64 in index order and every element takes its updates in basis
 * order, skipping c_j == 0: the operations, in the order, of the plain loop, whatever the thread
 * count. Returns 0, or -1 when out of memory (v untouched).
 */
int hesse_gram_schmidt(float *v, const float *const *basis, long m, long n, int passes, double *coeffs, int threads);

#endif
