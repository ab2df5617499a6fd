#include "gramschmidt.h"

#include <stdlib.h>

#include "threads.h"

/* Elements per chunk of the update: the chunk of work and of a few basis vectors stay in L2 across the basis. */
#define UPDATE_CHUNK 4096
/* Basis vectors per task of the dot products, read in one sweep over work. */
#define DOT_GROUP 4

typedef struct {
  double *work;
  const float *const *basis;
  long m, n;
  double *c;
} gs_job;

/* c_j for the basis vectors of group `t`: each its own sum, in index order. */
static void dots(void *ctx, int t, int ntasks) {
  const gs_job *j = (const gs_job *)ctx;
  const double *w = j->work;
  const long j0 = (long)t * DOT_GROUP, j1 = j0 + DOT_GROUP < j->m ? j0 + DOT_GROUP : j->m;
  (void)ntasks;
  if (j1 - j0 == DOT_GROUP) {
    const float *b0 = j->basis[j0], *b1 = j->basis[j0 + 1], *b2 = j->basis[j0 + 2], *b3 = j->basis[j0 + 3];
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (long i = 0; i < j->n; i++) {
      const double x = w[i];
      s0 += (double)b0[i] * x;
      s1 += (double)b1[i] * x;
      s2 += (double)b2[i] * x;
      s3 += (double)b3[i] * x;
    }
    j->c[j0] = s0, j->c[j0 + 1] = s1, j->c[j0 + 2] = s2, j->c[j0 + 3] = s3;
    return;
  }
  for (long k = j0; k < j1; k++) {
    const float *b = j->basis[k];
    double s = 0;
    for (long i = 0; i < j->n; i++) s += (double)b[i] * w[i];
    j->c[k] = s;
  }
}

/* work -= Σ_j c_j b_j over chunk `t`, in basis order. */
static void update(void *ctx, int t, int ntasks) {
  const gs_job *j = (const gs_job *)ctx;
  const long i0 = (long)t * UPDATE_CHUNK, i1 = i0 + UPDATE_CHUNK < j->n ? i0 + UPDATE_CHUNK : j->n;
  double *w = j->work;
  (void)ntasks;
  for (long k = 0; k < j->m; k++) {
    const double ck = j->c[k];
    if (ck == 0.0) continue;
    const float *b = j->basis[k];
    for (long i = i0; i < i1; i++) w[i] = w[i] - ck * (double)b[i];
  }
}

int hesse_gram_schmidt(float *v, const float *const *basis, long m, long n, int passes, double *coeffs, int threads) {
  if (m == 0 || passes <= 0) return 0;
  double *work = malloc((size_t)n * sizeof(double));
  double *c = malloc((size_t)m * sizeof(double));
  if (!work || !c) {
    free(work);
    free(c);
    return -1;
  }
  for (long i = 0; i < n; i++) work[i] = v[i];
  gs_job j = {work, basis, m, n, c};
  /* one thread for small vectors, where waking another costs more than it saves */
  const int t = (double)m * (double)n >= (double)(1 << 16) ? threads : 1;
  for (int p = 0; p < passes; p++) {
    hesse_parallel((int)((m + DOT_GROUP - 1) / DOT_GROUP), t, dots, &j);
    hesse_parallel((int)((n + UPDATE_CHUNK - 1) / UPDATE_CHUNK), t, update, &j);
    for (long k = 0; k < m; k++)
      if (c[k] != 0.0) coeffs[k] = coeffs[k] + c[k];
  }
  for (long i = 0; i < n; i++) v[i] = (float)work[i];
  free(work);
  free(c);
  return 0;
}
