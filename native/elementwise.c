#include "elementwise.h"

#include <stdlib.h>
#include <string.h>

#include "threads.h"

/* One innermost row; the stride cases are split so the compiler vectorises the common ones. */
static void row(hesse_ew_kind kind, const float *restrict a, long sa, const float *restrict b, long sb, float *restrict o, long n,
                int acc) {
#define LOOPS(OP) LOOPF(APPLY_##OP)
#define APPLY_PLUS(x, y) ((x) + (y))
#define APPLY_MINUS(x, y) ((x) - (y))
#define APPLY_TIMES(x, y) ((x) * (y))
#define APPLY_OVER(x, y) ((x) / (y))
#define APPLY_MAX(x, y) (((x) > (y) || (x) != (x)) ? (x) : (y))
#define APPLY_GREATER(x, y) ((x) > (y) ? 1.0f : 0.0f)
#define APPLY_GATE(x, y) ((y) > 0.0f ? (x) : 0.0f)
#define LOOPF(F)                                                                           \
  if (sa == 1 && sb == 1) {                                                                \
    if (acc) for (long i = 0; i < n; i++) o[i] += F(a[i], b[i]);                           \
    else for (long i = 0; i < n; i++) o[i] = F(a[i], b[i]);                                \
  } else if (sa == 1 && sb == 0) {                                                         \
    const float y = b[0];                                                                  \
    if (acc) for (long i = 0; i < n; i++) o[i] += F(a[i], y);                              \
    else for (long i = 0; i < n; i++) o[i] = F(a[i], y);                                   \
  } else if (sa == 0 && sb == 1) {                                                         \
    const float x = a[0];                                                                  \
    if (acc) for (long i = 0; i < n; i++) o[i] += F(x, b[i]);                              \
    else for (long i = 0; i < n; i++) o[i] = F(x, b[i]);                                   \
  } else {                                                                                 \
    if (acc) for (long i = 0; i < n; i++) o[i] += F(a[i * sa], b[i * sb]);                 \
    else for (long i = 0; i < n; i++) o[i] = F(a[i * sa], b[i * sb]);                      \
  }
  switch (kind) {
    case HESSE_EW_ADD: LOOPS(PLUS) break;
    case HESSE_EW_SUB: LOOPS(MINUS) break;
    case HESSE_EW_MUL: LOOPS(TIMES) break;
    case HESSE_EW_DIV: LOOPS(OVER) break;
    case HESSE_EW_MAX: LOOPS(MAX) break;
    case HESSE_EW_GREATER: LOOPS(GREATER) break;
    case HESSE_EW_GATE: LOOPS(GATE) break;
    case HESSE_EW_COPY:
      if (sa == 1) {
        if (acc) for (long i = 0; i < n; i++) o[i] += a[i];
        else memcpy(o, a, (size_t)n * sizeof(float));
      } else {
        if (acc) for (long i = 0; i < n; i++) o[i] += a[i * sa];
        else for (long i = 0; i < n; i++) o[i] = a[i * sa];
      }
      break;
  }
#undef LOOPS
#undef LOOPF
}

typedef struct {
  hesse_ew_kind kind;
  const float *a, *b;
  float *out;
  int rank;
  const long *shape, *sa, *sb;
  long rows; /* product of all but the innermost dimension */
  int acc;
} binary_job;

/* Rows [first, last) of the iteration, each located from its flat row index. */
static void binary_rows(const binary_job *j, long first, long last) {
  const int r = j->rank;
  const long inner = j->shape[r - 1];
  long idx[HESSE_EW_MAX_RANK];
  long rem = first, oa = 0, ob = 0;
  for (int d = r - 2; d >= 0; d--) {
    idx[d] = rem % j->shape[d];
    rem /= j->shape[d];
    oa += idx[d] * j->sa[d];
    ob += idx[d] * j->sb[d];
  }
  for (long rw = first; rw < last; rw++) {
    row(j->kind, j->a + oa, j->sa[r - 1], j->b ? j->b + ob : 0, j->sb[r - 1], j->out + rw * inner, inner, j->acc);
    for (int d = r - 2; d >= 0; d--) {
      oa += j->sa[d];
      ob += j->sb[d];
      if (++idx[d] < j->shape[d]) break;
      oa -= j->sa[d] * j->shape[d];
      ob -= j->sb[d] * j->shape[d];
      idx[d] = 0;
    }
  }
}

static void binary_task(void *ctx, int chunk, int nchunks) {
  const binary_job *j = (const binary_job *)ctx;
  long first = j->rows * chunk / nchunks, last = j->rows * (chunk + 1) / nchunks;
  if (first < last) binary_rows(j, first, last);
}

void hesse_binary(hesse_ew_kind kind, const float *a, const float *b, float *out, int rank, const long *shape, const long *sa,
                  const long *sb, int accumulate, int threads) {
  long total = 1, rows = 1;
  for (int d = 0; d < rank; d++) total *= shape[d];
  if (total == 0) return;
  for (int d = 0; d < rank - 1; d++) rows *= shape[d];
  binary_job j = {kind, a, kind == HESSE_EW_COPY ? 0 : b, out, rank, shape, sa, sb, rows, accumulate};
  /* Below about a quarter million elements a second thread costs more than it brings. */
  int chunks = (total >= (1L << 18) && threads > 1 && rows > 1) ? (rows < 4L * threads ? (int)rows : 4 * threads) : 1;
  if (chunks == 1) binary_rows(&j, 0, rows);
  else hesse_parallel(chunks, threads, binary_task, &j);
}

void hesse_reduce(const float *a, const float *b, float *out, long out_len, int rank, const long *shape, const long *sa,
                  const long *sb, const long *so) {
  double *acc = (double *)calloc((size_t)(out_len > 0 ? out_len : 1), sizeof(double));
  long total = 1;
  for (int d = 0; d < rank; d++) total *= shape[d];
  if (total > 0 && acc) {
    const long inner = shape[rank - 1], ia = sa[rank - 1], ib = b ? sb[rank - 1] : 0, io = so[rank - 1];
    long idx[HESSE_EW_MAX_RANK] = {0};
    long oa = 0, ob = 0, oo = 0;
    for (;;) {
      const float *pa = a + oa, *pb = b ? b + ob : 0;
      if (io == 0) {
        double s = 0;
        if (pb) for (long i = 0; i < inner; i++) s += (double)pa[i * ia] * pb[i * ib];
        else for (long i = 0; i < inner; i++) s += pa[i * ia];
        acc[oo] += s;
      } else {
        double *po = acc + oo;
        if (pb) for (long i = 0; i < inner; i++) po[i * io] += (double)pa[i * ia] * pb[i * ib];
        else for (long i = 0; i < inner; i++) po[i * io] += pa[i * ia];
      }
      int d = rank - 2;
      for (; d >= 0; d--) {
        oa += sa[d];
        ob += b ? sb[d] : 0;
        oo += so[d];
        if (++idx[d] < shape[d]) break;
        oa -= sa[d] * shape[d];
        ob -= b ? sb[d] * shape[d] : 0;
        oo -= so[d] * shape[d];
        idx[d] = 0;
      }
      if (d < 0) break;
    }
  }
  for (long i = 0; i < out_len; i++) out[i] = acc ? (float)acc[i] : 0.0f;
  free(acc);
}
