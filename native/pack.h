/*
 * Packing of GEMM operands into the panel layout the micro-kernels read: A as MR-row panels
 * (a[k*MR + r]), B as NR-column panels (b[k*NR + j]), each zero-padded to a whole panel.
 */
#ifndef HESSE_PACK_H
#define HESSE_PACK_H

/* Rows i0..i0+mc, columns p0..p0+kc of op(A), times alpha. A is M x K, or K x M when trans. */
void hesse_pack_a(int trans, const float *A, long lda, long i0, long mc, long p0, long kc, float alpha, int mr, float *dst);

/* Rows p0..p0+kc, columns j0..j0+nc of op(B). B is K x N, or N x K when trans. */
void hesse_pack_b(int trans, const float *B, long ldb, long p0, long kc, long j0, long nc, int nr, float *dst);

/* dst[k*ldd + r] = src[r*lds + k] for r < rows, k < cols: the transposing copy both packers need. */
void hesse_transpose(const float *src, long lds, long rows, long cols, float *dst, long ldd);

/* dst[k*ldd + r] = rows[r][k] for r < nrows, k < cols: the same, from rows anywhere in memory. */
void hesse_transpose_rows(const float *const *rows, long nrows, long cols, float *dst, long ldd);

#endif
