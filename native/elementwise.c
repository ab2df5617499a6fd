#include "elementwise.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "threads.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/*
 * The loops are written once (always inlined) and compiled three times, for AVX-512, AVX2 and the
 * portable baseline; the configured instruction set picks one. Each loads its operands before
 * combining them, so every kind is branch-free and vectorises (a conditional load, as in
 * `b > 0 ? a : 0`, would keep the compiler from if-converting and cost a mispredicted branch per
 * element on ReLU masks). The build disables FMA contraction, so every path rounds alike.
 */

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE float gate(float x, float y) {
  /* x where y > 0, else +0 even when x is NaN: a mask on the bits, no branch */
  uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  bits &= (uint32_t) - (int32_t)(y > 0.0f);
  float r;
  memcpy(&r, &bits, sizeof r);
  return r;
}

#define APPLY_PLUS(x, y) ((x) + (y))
#define APPLY_MINUS(x, y) ((x) - (y))
#define APPLY_TIMES(x, y) ((x) * (y))
#define APPLY_OVER(x, y) ((x) / (y))
#define APPLY_MAX(x, y) (((x) > (y) || (x) != (x)) ? (x) : (y))
#define APPLY_GREATER(x, y) ((x) > (y) ? 1.0f : 0.0f)
#define APPLY_GATE(x, y) gate((x), (y))

/* One innermost row; the stride cases are split so the compiler vectorises the common ones. */
#define LOOP(F, AX, BX)                                 \
  if (acc)                                              \
    for (long i = 0; i < n; i++) {                      \
      const float x = (AX), y = (BX);                   \
      o[i] += F(x, y);                                  \
    }                                                   \
  else                                                  \
    for (long i = 0; i < n; i++) {                      \
      const float x = (AX), y = (BX);                   \
      o[i] = F(x, y);                                   \
    }
#define LOOPS(F)                                                    \
  if (sa == 1 && sb == 1) {                                         \
    LOOP(F, a[i], b[i])                                             \
  } else if (sa == 1 && sb == 0) {                                  \
    const float y0 = b[0];                                          \
    LOOP(F, a[i], y0)                                               \
  } else if (sa == 0 && sb == 1) {                                  \
    const float x0 = a[0];                                          \
    LOOP(F, x0, b[i])                                               \
  } else {                                                          \
    LOOP(F, a[i * sa], b[i * sb])                                   \
  }

ALWAYS_INLINE void row_body(hesse_ew_kind kind, const float *restrict a, long sa, const float *restrict b, long sb,
                            float *restrict o, long n, int acc) {
  switch (kind) {
    case HESSE_EW_ADD: LOOPS(APPLY_PLUS) break;
    case HESSE_EW_SUB: LOOPS(APPLY_MINUS) break;
    case HESSE_EW_MUL: LOOPS(APPLY_TIMES) break;
    case HESSE_EW_DIV: LOOPS(APPLY_OVER) break;
    case HESSE_EW_MAX: LOOPS(APPLY_MAX) break;
    case HESSE_EW_GREATER: LOOPS(APPLY_GREATER) break;
    case HESSE_EW_GATE: LOOPS(APPLY_GATE) break;
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
}

/*
 * Σ a·b (b NULL: Σ a) over one row of n elements in float64, in eight interleaved partial sums
 * combined in a fixed order: vectorisable without reassociating anything, and the same on every
 * instruction set and thread count.
 */
ALWAYS_INLINE double sum_body(const float *restrict a, long sa, const float *restrict b, long sb, long n) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  long i = 0;
  if (b) {
    if (sa == 1 && sb == 1)
      for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += (double)a[i + l] * (double)b[i + l];
    else if (sa == 1 && sb == 0)
      for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += (double)a[i + l] * (double)b[0];
    for (; i < n; i++) s[i & 7] += (double)a[i * sa] * (double)b[i * sb];
  } else {
    if (sa == 1)
      for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += (double)a[i + l];
    for (; i < n; i++) s[i & 7] += (double)a[i * sa];
  }
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* acc[i*so] += a[i*sa]·b[i*sb] (or a alone) along a row whose every element has its own output. */
ALWAYS_INLINE void spread_body(const float *restrict a, long sa, const float *restrict b, long sb, double *restrict acc,
                               long so, long n) {
  if (b) {
    if (sa == 1 && sb == 1 && so == 1)
      for (long i = 0; i < n; i++) acc[i] += (double)a[i] * (double)b[i];
    else
      for (long i = 0; i < n; i++) acc[i * so] += (double)a[i * sa] * (double)b[i * sb];
  } else {
    if (sa == 1 && so == 1)
      for (long i = 0; i < n; i++) acc[i] += (double)a[i];
    else
      for (long i = 0; i < n; i++) acc[i * so] += (double)a[i * sa];
  }
}

/*
 * One row of a·b + c·d + e, written, added, written through ReLU or gated by the mask m (acc is a
 * hesse_muladd_mode; the mask is read along the row with unit stride).
 * The operands that stay fixed along the row (stride 0: a channel's scale or shift) are hoisted,
 * so the loop the compiler sees has unit-stride loads only; absent terms are left out rather than
 * added as zeros (which would turn -0 into +0).
 */
#define MULADD_LOOP(EXPR)                                  \
  if (acc == HESSE_MULADD_ADD)                             \
    for (long i = 0; i < n; i++) o[i] += (EXPR);           \
  else if (acc == HESSE_MULADD_RELU)                       \
    for (long i = 0; i < n; i++) {                         \
      const float r_ = (EXPR);                             \
      o[i] = APPLY_MAX(r_, 0.0f);                          \
    }                                                      \
  else if (acc == HESSE_MULADD_GATE)                       \
    for (long i = 0; i < n; i++) {                         \
      const float r_ = (EXPR);                             \
      o[i] = gate(r_, m[i]);                               \
    }                                                      \
  else                                                     \
    for (long i = 0; i < n; i++) o[i] = (EXPR);
#define MULADD_TERMS(A, B, C, D, E)                        \
  if (c && e) {                                            \
    MULADD_LOOP(((A) * (B) + (C) * (D)) + (E))             \
  } else if (c) {                                          \
    MULADD_LOOP((A) * (B) + (C) * (D))                     \
  } else if (e) {                                          \
    MULADD_LOOP((A) * (B) + (E))                           \
  } else {                                                 \
    MULADD_LOOP((A) * (B))                                 \
  }

ALWAYS_INLINE void muladd_body(const float *restrict a, long sa, const float *restrict b, long sb, const float *restrict c, long sc,
                               const float *restrict d, long sd, const float *restrict e, long se, const float *restrict m,
                               float *restrict o, long n, int acc) {
  if (sa == 1 && sb == 0 && (!c || (sc == 1 && sd == 0)) && (!e || se == 0)) {
    const float b0 = b[0], d0 = d ? d[0] : 0.0f, e0 = e ? e[0] : 0.0f;
    MULADD_TERMS(a[i], b0, c[i], d0, e0)
  } else if (sa == 1 && sb == 0 && !c && e && se == 1) {
    /* a·b0 + e along the row: a sum as a·1 + e (the end of a residual block and its tangent) */
    const float b0 = b[0], d0 = 0.0f;
    MULADD_TERMS(a[i], b0, c[i], d0, e[i])
  } else if (sa == 1 && sb == 1 && (!c || (sc == 1 && sd == 1)) && (!e || se == 1)) {
    MULADD_TERMS(a[i], b[i], c[i], d[i], e[i])
  } else {
    MULADD_TERMS(a[i * sa], b[i * sb], c[i * sc], d[i * sd], e[i * se])
  }
}

typedef void (*row_fn)(hesse_ew_kind, const float *, long, const float *, long, float *, long, int);
typedef void (*muladd_fn)(const float *, long, const float *, long, const float *, long, const float *, long, const float *, long,
                          const float *, float *, long, int);
typedef double (*sum_fn)(const float *, long, const float *, long, long);
typedef void (*spread_fn)(const float *, long, const float *, long, double *, long, long);

#define DEFINE_PATH(SUFFIX, TARGET)                                                                                    \
  TARGET static void row_##SUFFIX(hesse_ew_kind kind, const float *a, long sa, const float *b, long sb, float *o, long n, \
                                  int acc) {                                                                           \
    row_body(kind, a, sa, b, sb, o, n, acc);                                                                           \
  }                                                                                                                    \
  TARGET static double sum_##SUFFIX(const float *a, long sa, const float *b, long sb, long n) {                        \
    return sum_body(a, sa, b, sb, n);                                                                                  \
  }                                                                                                                    \
  TARGET static void spread_##SUFFIX(const float *a, long sa, const float *b, long sb, double *acc, long so, long n) {  \
    spread_body(a, sa, b, sb, acc, so, n);                                                                             \
  }                                                                                                                    \
  TARGET static void muladd_##SUFFIX(const float *a, long sa, const float *b, long sb, const float *c, long sc,          \
                                     const float *d, long sd, const float *e, long se, const float *m, float *o, long n, \
                                     int acc) {                                                                        \
    muladd_body(a, sa, b, sb, c, sc, d, sd, e, se, m, o, n, acc);                                                      \
  }

DEFINE_PATH(generic, )
#if defined(__x86_64__)
DEFINE_PATH(avx2, __attribute__((target("avx2"))))
DEFINE_PATH(avx512, __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,prefer-vector-width=512"))))
#endif

/* NAME_for(isa): the NAME_avx512, NAME_avx2 or NAME_generic version, as the instruction set allows. */
#if defined(__x86_64__)
#define DEFINE_PICK(NAME)                                  \
  static NAME##_fn NAME##_for(hesse_isa isa) {             \
    if (isa == HESSE_ISA_AVX512) return NAME##_avx512;     \
    if (isa == HESSE_ISA_AVX2) return NAME##_avx2;         \
    return NAME##_generic;                                 \
  }
#else
#define DEFINE_PICK(NAME)                                  \
  static NAME##_fn NAME##_for(hesse_isa isa) {             \
    (void)isa;                                             \
    return NAME##_generic;                                 \
  }
#endif
DEFINE_PICK(row)
DEFINE_PICK(sum)
DEFINE_PICK(muladd)
DEFINE_PICK(spread)

/* ---- binary ---- */

typedef struct {
  hesse_ew_kind kind;
  const float *a, *b;
  float *out;
  int rank;
  const long *shape, *sa, *sb;
  long total;
  int acc;
  row_fn row;
} binary_job;

/* Elements [first, last) of the iteration (out is contiguous), row by row; a range may start or end inside a row. */
static void binary_range(const binary_job *j, long first, long last) {
  const int r = j->rank;
  const long inner = j->shape[r - 1], ia = j->sa[r - 1], ib = j->sb[r - 1];
  long idx[HESSE_EW_MAX_RANK];
  long rw = first / inner, rem = rw, oa = 0, ob = 0;
  for (int d = r - 2; d >= 0; d--) {
    idx[d] = rem % j->shape[d];
    rem /= j->shape[d];
    oa += idx[d] * j->sa[d];
    ob += idx[d] * j->sb[d];
  }
  for (long e = first; e < last; rw++) {
    const long start = e - rw * inner, end = last - rw * inner < inner ? last - rw * inner : inner;
    j->row(j->kind, j->a + oa + start * ia, ia, j->b ? j->b + ob + start * ib : 0, ib, j->out + e, end - start, j->acc);
    e = rw * inner + end;
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

/* Chunk boundaries at multiples of 16 elements keep every chunk's vectors aligned alike. */
static long chunk_edge(long total, int c, int nchunks) {
  if (c >= nchunks) return total;
  return (long)((double)total * c / nchunks) / 16 * 16;
}

static void binary_task(void *ctx, int chunk, int nchunks) {
  const binary_job *j = (const binary_job *)ctx;
  const long first = chunk_edge(j->total, chunk, nchunks), last = chunk_edge(j->total, chunk + 1, nchunks);
  if (first < last) binary_range(j, first, last);
}

/* Below about a quarter million elements a second thread costs more than it brings. */
#define SPLIT_MIN_ELEMENTS (1L << 18)
/* Chunks of at least this many elements: a chunk is claimed under a lock. */
#define CHUNK_MIN_ELEMENTS (1L << 16)

static int chunks_for(long work, int threads) {
  if (threads <= 1 || work < SPLIT_MIN_ELEMENTS) return 1;
  long c = 4L * threads, most = work / CHUNK_MIN_ELEMENTS;
  return (int)(c < most ? c : most);
}

void hesse_binary(hesse_ew_kind kind, const float *a, const float *b, float *out, int rank, const long *shape, const long *sa,
                  const long *sb, int accumulate, int threads) {
  long total = 1;
  for (int d = 0; d < rank; d++) total *= shape[d];
  if (total == 0) return;
  binary_job j = {kind, a, kind == HESSE_EW_COPY ? 0 : b, out, rank, shape, sa, sb, total, accumulate, row_for(hesse_isa_get())};
  const int chunks = chunks_for(total, threads);
  if (chunks == 1) binary_range(&j, 0, total);
  else hesse_parallel(chunks, threads, binary_task, &j);
}

/* ---- muladd ---- */

/* The mask goes along a row with unit stride: a gated row whose mask does not is cut into rows of 1. */
typedef struct {
  const float *p[6]; /* a, b, c, d, e, mask */
  float *out;
  int rank;
  const long *shape;
  const long *const *st;
  long total;
  int acc;
  muladd_fn row;
} muladd_job;

static void muladd_range(const muladd_job *j, long first, long last) {
  const int r = j->rank, np = j->p[5] ? 6 : 5;
  const long inner = j->shape[r - 1];
  long idx[HESSE_EW_MAX_RANK], off[6] = {0, 0, 0, 0, 0, 0};
  long rw = first / inner, rem = rw;
  for (int d = r - 2; d >= 0; d--) {
    idx[d] = rem % j->shape[d];
    rem /= j->shape[d];
    for (int q = 0; q < np; q++) off[q] += idx[d] * j->st[q][d];
  }
  for (long e = first; e < last; rw++) {
    const long start = e - rw * inner, end = last - rw * inner < inner ? last - rw * inner : inner;
    const float *q[6] = {0, 0, 0, 0, 0, 0};
    for (int k = 0; k < np; k++) q[k] = j->p[k] ? j->p[k] + off[k] + start * j->st[k][r - 1] : 0;
    if (np == 6 && j->st[5][r - 1] != 1) {
      for (long i = 0; i < end - start; i++) {
        const float *qi[6];
        for (int k = 0; k < 6; k++) qi[k] = q[k] ? q[k] + i * j->st[k][r - 1] : 0;
        j->row(qi[0], 0, qi[1], 0, qi[2], 0, qi[3], 0, qi[4], 0, qi[5], j->out + e + i, 1, j->acc);
      }
    } else {
      j->row(q[0], j->st[0][r - 1], q[1], j->st[1][r - 1], q[2], j->st[2][r - 1], q[3], j->st[3][r - 1], q[4], j->st[4][r - 1], q[5],
             j->out + e, end - start, j->acc);
    }
    e = rw * inner + end;
    for (int d = r - 2; d >= 0; d--) {
      for (int k = 0; k < np; k++) off[k] += j->st[k][d];
      if (++idx[d] < j->shape[d]) break;
      for (int k = 0; k < np; k++) off[k] -= j->st[k][d] * j->shape[d];
      idx[d] = 0;
    }
  }
}

static void muladd_task(void *ctx, int chunk, int nchunks) {
  const muladd_job *j = (const muladd_job *)ctx;
  const long first = chunk_edge(j->total, chunk, nchunks), last = chunk_edge(j->total, chunk + 1, nchunks);
  if (first < last) muladd_range(j, first, last);
}

void hesse_muladd(const float *a, const float *b, const float *c, const float *d, const float *e, const float *mask, float *out,
                  int rank, const long *shape, const long *const strides[6], hesse_muladd_mode mode, int threads) {
  long total = 1;
  for (int k = 0; k < rank; k++) total *= shape[k];
  if (total == 0) return;
  const float *m = mode == HESSE_MULADD_GATE ? mask : 0;
  muladd_job j = {{a, b, c && d ? c : 0, c && d ? d : 0, e, m}, out, rank, shape, strides, total, (int)mode, muladd_for(hesse_isa_get())};
  const int chunks = chunks_for(total, threads);
  if (chunks == 1) muladd_range(&j, 0, total);
  else hesse_parallel(chunks, threads, muladd_task, &j);
}

/* ---- reduce ---- */

typedef struct {
  const float *a, *b;
  double *acc;
  int rank;
  const long *shape, *sa, *sb, *so;
  int split; /* the dimension whose index range the chunks divide: one with its own outputs, so no two chunks share one */
  sum_fn sum;
  spread_fn spread;
} reduce_job;

/* The iteration with dimension `split` restricted to [lo, hi), in the same order as the whole. */
static void reduce_range(const reduce_job *j, long lo, long hi) {
  const int r = j->rank;
  long shape[HESSE_EW_MAX_RANK];
  memcpy(shape, j->shape, (size_t)r * sizeof(long));
  long oa = 0, ob = 0, oo = 0;
  if (j->split >= 0) {
    shape[j->split] = hi - lo;
    oa = lo * j->sa[j->split];
    ob = j->b ? lo * j->sb[j->split] : 0;
    oo = lo * j->so[j->split];
  }
  const long inner = shape[r - 1], ia = j->sa[r - 1], ib = j->b ? j->sb[r - 1] : 0, io = j->so[r - 1];
  long idx[HESSE_EW_MAX_RANK] = {0};
  for (;;) {
    const float *pa = j->a + oa, *pb = j->b ? j->b + ob : 0;
    if (io == 0) j->acc[oo] += j->sum(pa, ia, pb, ib, inner);
    else j->spread(pa, ia, pb, ib, j->acc + oo, io, inner);
    int d = r - 2;
    for (; d >= 0; d--) {
      oa += j->sa[d];
      ob += j->b ? j->sb[d] : 0;
      oo += j->so[d];
      if (++idx[d] < shape[d]) break;
      oa -= j->sa[d] * shape[d];
      ob -= j->b ? j->sb[d] * shape[d] : 0;
      oo -= j->so[d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) break;
  }
}

static void reduce_task(void *ctx, int chunk, int nchunks) {
  const reduce_job *j = (const reduce_job *)ctx;
  const long n = j->shape[j->split];
  const long lo = n * chunk / nchunks, hi = n * (chunk + 1) / nchunks;
  if (lo < hi) reduce_range(j, lo, hi);
}

void hesse_reduce(const float *a, const float *b, float *out, long out_len, int rank, const long *shape, const long *sa,
                  const long *sb, const long *so, int threads) {
  double *acc = (double *)calloc((size_t)(out_len > 0 ? out_len : 1), sizeof(double));
  long total = 1;
  for (int d = 0; d < rank; d++) total *= shape[d];
  if (total > 0 && acc) {
    const hesse_isa isa = hesse_isa_get();
    reduce_job j = {a, b, acc, rank, shape, sa, sb, so, -1, sum_for(isa), spread_for(isa)};
    /*
     * Split the outermost dimension that has its own outputs, so each output's terms are summed in
     * one chunk, in order. Only when an index of it spans a long contiguous stretch: chunks of a
     * few rows each (BN's channels inside an image) read memory in a pattern that two threads run
     * slower than one.
     */
    long below = total;
    for (int d = 0; d < rank - 1 && j.split < 0; d++) {
      below /= shape[d];
      if (below < CHUNK_MIN_ELEMENTS) break;
      if (so[d] != 0 && shape[d] > 1) j.split = d;
    }
    int chunks = j.split >= 0 ? chunks_for(total, threads) : 1;
    if (j.split >= 0 && chunks > shape[j.split]) chunks = (int)shape[j.split];
    if (chunks <= 1) reduce_range(&j, 0, j.split >= 0 ? shape[j.split] : 0);
    else hesse_parallel(chunks, threads, reduce_task, &j);
  }
  for (long i = 0; i < out_len; i++) out[i] = acc ? (float)acc[i] : 0.0f;
  free(acc);
}

/* ---- a per-channel affine map's backward pass ---- */

typedef void (*affine_bwd_fn)(const float *, const float *, const float *, float, float *, long, double *, double *);

/*
 * Elements [i, n) of one row (one image, one channel) of the cotangents of y = x·s + t, optionally
 * followed by ReLU: gm = g (or g where y > 0), dx = gm·s, Σ gm·x and Σ gm into the eight lanes a
 * and b (lane l holds the elements ≡ l mod 8, as sum_body's s[l]), then the lanes combined in
 * sum_body's order and added to *sgx and *sg: the bits reduce() gives for the same row, and dx the
 * bits of binary's MUL. The portable path runs whole rows through it; the vector paths their tails.
 */
static inline void affine_bwd_finish(const float *g, const float *m, const float *x, float s, float *dx, long i, long n,
                                     double *a, double *b, double *sgx, double *sg) {
  for (; i < n; i++) {
    const float v = m ? gate(g[i], m[i]) : g[i];
    dx[i] = v * s;
    a[i & 7] += (double)v * (double)x[i];
    b[i & 7] += (double)v;
  }
  *sgx += ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  *sg += ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
}

static void affine_bwd_generic(const float *g, const float *m, const float *x, float s, float *dx, long n, double *sgx, double *sg) {
  double a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  affine_bwd_finish(g, m, x, s, dx, 0, n, a, b, sgx, sg);
}

#if defined(__x86_64__)
/*
 * One pass for the whole row: eight floats at a time, the sums in eight double lanes (lane l
 * holds the elements i ≡ l mod 8, as sum_body's s[l]), multiply then add, no fused multiply-add.
 */
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw"))) static void affine_bwd_avx512(const float *g, const float *m, const float *x, float s,
                                                                                         float *dx, long n, double *sgx, double *sg) {
  __m512d a = _mm512_setzero_pd(), b = _mm512_setzero_pd();
  const __m256 vs = _mm256_set1_ps(s), zero = _mm256_setzero_ps();
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(g + i);
    if (m) v = _mm256_maskz_mov_ps(_mm256_cmp_ps_mask(_mm256_loadu_ps(m + i), zero, _CMP_GT_OQ), v);
    _mm256_storeu_ps(dx + i, _mm256_mul_ps(v, vs));
    const __m512d vd = _mm512_cvtps_pd(v);
    a = _mm512_add_pd(a, _mm512_mul_pd(vd, _mm512_cvtps_pd(_mm256_loadu_ps(x + i))));
    b = _mm512_add_pd(b, vd);
  }
  double la[8], lb[8];
  _mm512_storeu_pd(la, a);
  _mm512_storeu_pd(lb, b);
  affine_bwd_finish(g, m, x, s, dx, i, n, la, lb, sgx, sg);
}

__attribute__((target("avx2"))) static void affine_bwd_avx2(const float *g, const float *m, const float *x, float s, float *dx, long n,
                                                             double *sgx, double *sg) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), b0 = _mm256_setzero_pd(), b1 = _mm256_setzero_pd();
  const __m256 vs = _mm256_set1_ps(s), zero = _mm256_setzero_ps();
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(g + i);
    if (m) v = _mm256_and_ps(v, _mm256_cmp_ps(_mm256_loadu_ps(m + i), zero, _CMP_GT_OQ));
    _mm256_storeu_ps(dx + i, _mm256_mul_ps(v, vs));
    const __m256 xv = _mm256_loadu_ps(x + i);
    const __m256d v0 = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), v1 = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    a0 = _mm256_add_pd(a0, _mm256_mul_pd(v0, _mm256_cvtps_pd(_mm256_castps256_ps128(xv))));
    a1 = _mm256_add_pd(a1, _mm256_mul_pd(v1, _mm256_cvtps_pd(_mm256_extractf128_ps(xv, 1))));
    b0 = _mm256_add_pd(b0, v0);
    b1 = _mm256_add_pd(b1, v1);
  }
  double la[8], lb[8];
  _mm256_storeu_pd(la, a0);
  _mm256_storeu_pd(la + 4, a1);
  _mm256_storeu_pd(lb, b0);
  _mm256_storeu_pd(lb + 4, b1);
  affine_bwd_finish(g, m, x, s, dx, i, n, la, lb, sgx, sg);
}
#endif

DEFINE_PICK(affine_bwd)

typedef struct {
  const float *g, *x, *s, *mask;
  float *dx;
  double *sgx, *sg;
  long N, C, HW;
  affine_bwd_fn row;
} affine_bwd_job;

/* Channels [lo, hi) of every image, images in order: each channel's sums run in one order whatever the split. */
static void affine_bwd_range(const affine_bwd_job *j, long lo, long hi) {
  for (long n = 0; n < j->N; n++)
    for (long c = lo; c < hi; c++) {
      const long off = (n * j->C + c) * j->HW;
      j->row(j->g + off, j->mask ? j->mask + off : 0, j->x + off, j->s[c], j->dx + off, j->HW, j->sgx + c, j->sg + c);
    }
}

static void affine_bwd_task(void *ctx, int chunk, int nchunks) {
  const affine_bwd_job *j = (const affine_bwd_job *)ctx;
  const long lo = j->C * chunk / nchunks, hi = j->C * (chunk + 1) / nchunks;
  if (lo < hi) affine_bwd_range(j, lo, hi);
}

int hesse_affine_backward(const float *g, const float *x, const float *s, const float *mask, float *dx, float *ds, float *dt,
                          long N, long C, long HW, int threads) {
  double *acc = (double *)calloc((size_t)(2 * C > 0 ? 2 * C : 1), sizeof(double));
  if (!acc) return 0;
  affine_bwd_job j = {g, x, s, mask, dx, acc, acc + C, N, C, HW, affine_bwd_for(hesse_isa_get())};
  const long total = N * C * HW;
  int chunks = chunks_for(total, threads);
  if (chunks > C) chunks = (int)C;
  if (chunks <= 1) affine_bwd_range(&j, 0, C);
  else hesse_parallel(chunks, threads, affine_bwd_task, &j);
  for (long c = 0; c < C; c++) {
    ds[c] = (float)acc[c];
    dt[c] = (float)acc[C + c];
  }
  free(acc);
  return 1;
}

/* ---- the tangent of that backward pass ---- */

typedef void (*affine_tan_fn)(const float *, const float *, const float *, const float *, const float *, float, float, int, float *,
                              long, double *, double *, double *);

/*
 * One row (one image, one channel, one tangent of the block) of the tangent of the cotangents
 * above: gm = g gated by the mask (or g), dgm = tg gated alike; out = dgm·s + gm·ts (ts absent:
 * dgm·s), and Σ dgm·x, Σ gm·tx (tx absent: no sum) and Σ dgm into *A1, *A2 and *B, each in
 * sum_body's eight lanes (lane l holds the elements ≡ l mod 8) and order: the bits of the gate,
 * muladd and reduce kernels that the recorded rule's primitives (reluGrad, mul, mulSumTo, sumTo)
 * would run. Elements [i, n) here, one at a time: the portable path's whole row, the vector
 * paths' tails.
 */
static inline void affine_tan_finish(const float *g, const float *m, const float *x, const float *tg, const float *tx, float s,
                                     float ts, int has_ts, float *o, long i, long n, double *a1, double *a2, double *b, double *A1,
                                     double *A2, double *B) {
  for (; i < n; i++) {
    const float v = m ? gate(g[i], m[i]) : g[i];
    const float dv = m ? gate(tg[i], m[i]) : tg[i];
    o[i] = has_ts ? dv * s + v * ts : dv * s;
    a1[i & 7] += (double)dv * (double)x[i];
    if (tx) a2[i & 7] += (double)v * (double)tx[i];
    b[i & 7] += (double)dv;
  }
  *A1 += ((a1[0] + a1[1]) + (a1[2] + a1[3])) + ((a1[4] + a1[5]) + (a1[6] + a1[7]));
  if (tx) *A2 += ((a2[0] + a2[1]) + (a2[2] + a2[3])) + ((a2[4] + a2[5]) + (a2[6] + a2[7]));
  *B += ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
}

static void affine_tan_generic(const float *g, const float *m, const float *x, const float *tg, const float *tx, float s, float ts,
                               int has_ts, float *o, long n, double *A1, double *A2, double *B) {
  double a1[8] = {0, 0, 0, 0, 0, 0, 0, 0}, a2[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  affine_tan_finish(g, m, x, tg, tx, s, ts, has_ts, o, 0, n, a1, a2, b, A1, A2, B);
}

/*
 * The vector paths: a body with the mask, tx and ts as flags, inlined into one loop for each of
 * the eight combinations (the flags are constants there), eight floats a step, multiply then
 * add, no fused multiply-add.
 */
#if defined(__x86_64__)
#define AVX512_TARGET "avx512f,avx512vl,avx512dq,avx512bw"
static inline __attribute__((always_inline, target(AVX512_TARGET))) void affine_tan_avx512_body(
    const float *g, const float *m, const float *x, const float *tg, const float *tx, float s, float ts, int has_ts, float *o, long n,
    double *A1, double *A2, double *B) {
  __m512d a1 = _mm512_setzero_pd(), a2 = _mm512_setzero_pd(), b = _mm512_setzero_pd();
  const __m256 vs = _mm256_set1_ps(s), vts = _mm256_set1_ps(ts), zero = _mm256_setzero_ps();
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(g + i), dv = _mm256_loadu_ps(tg + i);
    if (m) {
      const __mmask8 open = _mm256_cmp_ps_mask(_mm256_loadu_ps(m + i), zero, _CMP_GT_OQ);
      v = _mm256_maskz_mov_ps(open, v);
      dv = _mm256_maskz_mov_ps(open, dv);
    }
    __m256 out = _mm256_mul_ps(dv, vs);
    if (has_ts) out = _mm256_add_ps(out, _mm256_mul_ps(v, vts));
    _mm256_storeu_ps(o + i, out);
    const __m512d dvd = _mm512_cvtps_pd(dv);
    a1 = _mm512_add_pd(a1, _mm512_mul_pd(dvd, _mm512_cvtps_pd(_mm256_loadu_ps(x + i))));
    if (tx) a2 = _mm512_add_pd(a2, _mm512_mul_pd(_mm512_cvtps_pd(v), _mm512_cvtps_pd(_mm256_loadu_ps(tx + i))));
    b = _mm512_add_pd(b, dvd);
  }
  double la1[8], la2[8], lb[8];
  _mm512_storeu_pd(la1, a1);
  _mm512_storeu_pd(la2, a2);
  _mm512_storeu_pd(lb, b);
  affine_tan_finish(g, m, x, tg, tx, s, ts, has_ts, o, i, n, la1, la2, lb, A1, A2, B);
}

static inline __attribute__((always_inline, target("avx2"))) void affine_tan_avx2_body(const float *g, const float *m, const float *x,
                                                                                    const float *tg, const float *tx, float s, float ts,
                                                                                    int has_ts, float *o, long n, double *A1,
                                                                                    double *A2, double *B) {
  __m256d a1l = _mm256_setzero_pd(), a1h = _mm256_setzero_pd(), a2l = _mm256_setzero_pd(), a2h = _mm256_setzero_pd();
  __m256d bl = _mm256_setzero_pd(), bh = _mm256_setzero_pd();
  const __m256 vs = _mm256_set1_ps(s), vts = _mm256_set1_ps(ts), zero = _mm256_setzero_ps();
#define LO(V) _mm256_cvtps_pd(_mm256_castps256_ps128(V))
#define HI(V) _mm256_cvtps_pd(_mm256_extractf128_ps(V, 1))
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(g + i), dv = _mm256_loadu_ps(tg + i);
    if (m) {
      const __m256 open = _mm256_cmp_ps(_mm256_loadu_ps(m + i), zero, _CMP_GT_OQ);
      v = _mm256_and_ps(v, open);
      dv = _mm256_and_ps(dv, open);
    }
    __m256 out = _mm256_mul_ps(dv, vs);
    if (has_ts) out = _mm256_add_ps(out, _mm256_mul_ps(v, vts));
    _mm256_storeu_ps(o + i, out);
    const __m256 xv = _mm256_loadu_ps(x + i);
    a1l = _mm256_add_pd(a1l, _mm256_mul_pd(LO(dv), LO(xv)));
    a1h = _mm256_add_pd(a1h, _mm256_mul_pd(HI(dv), HI(xv)));
    if (tx) {
      const __m256 txv = _mm256_loadu_ps(tx + i);
      a2l = _mm256_add_pd(a2l, _mm256_mul_pd(LO(v), LO(txv)));
      a2h = _mm256_add_pd(a2h, _mm256_mul_pd(HI(v), HI(txv)));
    }
    bl = _mm256_add_pd(bl, LO(dv));
    bh = _mm256_add_pd(bh, HI(dv));
  }
#undef LO
#undef HI
  double la1[8], la2[8], lb[8];
  _mm256_storeu_pd(la1, a1l);
  _mm256_storeu_pd(la1 + 4, a1h);
  _mm256_storeu_pd(la2, a2l);
  _mm256_storeu_pd(la2 + 4, a2h);
  _mm256_storeu_pd(lb, bl);
  _mm256_storeu_pd(lb + 4, bh);
  affine_tan_finish(g, m, x, tg, tx, s, ts, has_ts, o, i, n, la1, la2, lb, A1, A2, B);
}

/* The body with the mask, tx and ts each present or not as constants: eight loops. */
#define AFFINE_TAN_BODY(SUFFIX, M, TX, HAS_TS) affine_tan_##SUFFIX##_body(g, M, x, tg, TX, s, ts, HAS_TS, o, n, A1, A2, B)
#define AFFINE_TAN_TS(SUFFIX, M, TX) \
  if (has_ts) AFFINE_TAN_BODY(SUFFIX, M, TX, 1); \
  else AFFINE_TAN_BODY(SUFFIX, M, TX, 0);
#define DEFINE_AFFINE_TAN(SUFFIX, TARGET)                                                                                 \
  TARGET static void affine_tan_##SUFFIX(const float *g, const float *m, const float *x, const float *tg, const float *tx, \
                                         float s, float ts, int has_ts, float *o, long n, double *A1, double *A2, double *B) { \
    if (m && tx) {                                                                                                        \
      AFFINE_TAN_TS(SUFFIX, m, tx)                                                                                        \
    } else if (m) {                                                                                                       \
      AFFINE_TAN_TS(SUFFIX, m, 0)                                                                                         \
    } else if (tx) {                                                                                                      \
      AFFINE_TAN_TS(SUFFIX, 0, tx)                                                                                        \
    } else {                                                                                                              \
      AFFINE_TAN_TS(SUFFIX, 0, 0)                                                                                         \
    }                                                                                                                     \
  }
DEFINE_AFFINE_TAN(avx2, __attribute__((target("avx2"))))
DEFINE_AFFINE_TAN(avx512, __attribute__((target(AVX512_TARGET))))
#undef AVX512_TARGET
#undef DEFINE_AFFINE_TAN
#undef AFFINE_TAN_TS
#undef AFFINE_TAN_BODY
#endif
DEFINE_PICK(affine_tan)

typedef struct {
  const float *g, *x, *s, *mask, *tg, *tx, *ts;
  float *out;
  double *A1, *A2, *B;
  long K, N, C, HW;
  affine_tan_fn row;
} affine_tan_job;

/*
 * Channels [lo, hi) of every image, images in order, and for each row every tangent of the block
 * while the row's primal values are in cache: each sum runs in one order whatever the split.
 */
static void affine_tan_range(const affine_tan_job *j, long lo, long hi) {
  const long n1 = j->N * j->C * j->HW;
  for (long n = 0; n < j->N; n++)
    for (long c = lo; c < hi; c++) {
      const long off = (n * j->C + c) * j->HW;
      for (long b = 0, q = c; b < j->K; b++, q += j->C) {
        const long toff = b * n1 + off;
        j->row(j->g + off, j->mask ? j->mask + off : 0, j->x + off, j->tg + toff, j->tx ? j->tx + toff : 0, j->s[c], j->ts ? j->ts[q] : 0.0f,
               j->ts != 0, j->out + toff, j->HW, j->A1 + q, j->A2 + q, j->B + q);
      }
    }
}

static void affine_tan_task(void *ctx, int chunk, int nchunks) {
  const affine_tan_job *j = (const affine_tan_job *)ctx;
  const long lo = j->C * chunk / nchunks, hi = j->C * (chunk + 1) / nchunks;
  if (lo < hi) affine_tan_range(j, lo, hi);
}

int hesse_affine_backward_tangent(const float *g, const float *x, const float *s, const float *mask, const float *tg, const float *tx,
                                  const float *ts, float *dgx, float *dgs, float *dgt, long K, long N, long C, long HW, int threads) {
  const long pairs = K * C;
  double *acc = (double *)calloc((size_t)(3 * pairs > 0 ? 3 * pairs : 1), sizeof(double));
  if (!acc) return 0;
  affine_tan_job j = {g, x, s, mask, tg, tx, ts, dgx, acc, acc + pairs, acc + 2 * pairs, K, N, C, HW, affine_tan_for(hesse_isa_get())};
  int chunks = chunks_for(K * N * C * HW, threads);
  if (chunks > C) chunks = (int)C;
  if (chunks <= 1) affine_tan_range(&j, 0, C);
  else hesse_parallel(chunks, threads, affine_tan_task, &j);
  for (long q = 0; q < pairs; q++) {
    dgs[q] = tx ? (float)j.A1[q] + (float)j.A2[q] : (float)j.A1[q];
    dgt[q] = (float)j.B[q];
  }
  free(acc);
  return 1;
}
