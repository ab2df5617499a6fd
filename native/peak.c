#include "peak.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conv.h"
#include "gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/*
 * Twelve independent chains: more than latency x FMA ports on any current core, so throughput bound.
 * Each chain starts from its own value: chains that start equal compute the same numbers, and GCC
 * merges them into one chain (latency bound), which then counts as twelve and reports a "peak"
 * above what the core can do (it did: 228-334 GFLOP/s on cores whose real one-thread peak is 143).
 */
#define CHAINS(F, x, y)                                                                                 \
  a0 = F(a0, x, y); a1 = F(a1, x, y); a2 = F(a2, x, y); a3 = F(a3, x, y); a4 = F(a4, x, y);           \
  a5 = F(a5, x, y); a6 = F(a6, x, y); a7 = F(a7, x, y); a8 = F(a8, x, y); a9 = F(a9, x, y);           \
  a10 = F(a10, x, y); a11 = F(a11, x, y);

/* The twelve chains' declarations, SET(v) making a value of type T from the float v, each its own. */
#define CHAIN_STARTS(T, SET, s)                                                                         \
  T a0 = SET(s), a1 = SET(s + 0.01f), a2 = SET(s + 0.02f), a3 = SET(s + 0.03f), a4 = SET(s + 0.04f),    \
    a5 = SET(s + 0.05f), a6 = SET(s + 0.06f), a7 = SET(s + 0.07f), a8 = SET(s + 0.08f),                 \
    a9 = SET(s + 0.09f), a10 = SET(s + 0.10f), a11 = SET(s + 0.11f);
#define SCALAR(v) (v)

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float run_avx2(long n, float s) {
  const __m256 x = _mm256_set1_ps(s), y = _mm256_set1_ps(1.0f - s);
  CHAIN_STARTS(__m256, _mm256_set1_ps, s)
  for (long i = 0; i < n; i++) { CHAINS(_mm256_fmadd_ps, x, y) }
  __m256 t = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  t = _mm256_add_ps(t, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  float o[8];
  _mm256_storeu_ps(o, t);
  return o[0];
}

__attribute__((target("avx512f"))) static float run_avx512(long n, float s) {
  const __m512 x = _mm512_set1_ps(s), y = _mm512_set1_ps(1.0f - s);
  CHAIN_STARTS(__m512, _mm512_set1_ps, s)
  for (long i = 0; i < n; i++) { CHAINS(_mm512_fmadd_ps, x, y) }
  __m512 t = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                           _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  t = _mm512_add_ps(t, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  return _mm512_reduce_add_ps(t);
}
#endif

static float fmaf_plain(float a, float x, float y) { return a * x + y; }

static float run_generic(long n, float s) {
  const float x = s, y = 1.0f - s;
  CHAIN_STARTS(float, SCALAR, s)
  for (long i = 0; i < n; i++) { CHAINS(fmaf_plain, x, y) }
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
}

volatile float hesse_peak_sink;

double hesse_fma_peak_gflops(hesse_isa isa, double seconds) {
  const int lanes = isa == HESSE_ISA_AVX512 ? 16 : isa == HESSE_ISA_AVX2 ? 8 : 1;
  long n = 1 << 16;
  for (;;) {
    const double t0 = now();
    float r;
#if defined(__x86_64__)
    if (isa == HESSE_ISA_AVX512) r = run_avx512(n, 0.5f);
    else if (isa == HESSE_ISA_AVX2) r = run_avx2(n, 0.5f);
    else
#endif
      r = run_generic(n, 0.5f);
    hesse_peak_sink = r;
    const double dt = now() - t0;
    if (dt >= seconds || n > (1L << 40)) return 12.0 * 2.0 * lanes * (double)n / dt / 1e9;
    n *= 2;
  }
}

/* ---- the workload the kernel choice is measured by ---- */

typedef struct {
  long N, C, O, H, k, s;
  int which; /* 0 forward, 1 input gradient, 2 weight gradient */
} conv_case;

static const conv_case workload[] = {
    {8, 16, 16, 32, 3, 1, 0},  {8, 16, 16, 32, 3, 1, 1},  {16, 16, 16, 16, 3, 1, 2}, {8, 32, 32, 16, 3, 1, 1},
    {16, 64, 64, 8, 3, 1, 0},  {16, 64, 64, 8, 3, 1, 2},  {16, 16, 32, 16, 3, 2, 0},
};
#define WORKLOAD_CASES (sizeof workload / sizeof workload[0])
/* and one SGEMM of the shape that dominates ResNet-20's convolutions */
#define WL_M 64
#define WL_N 512
#define WL_K 576
#define WL_MAX_REPS 64

static float *filled(long n, unsigned seed) {
  float *p = (float *)malloc((size_t)n * sizeof(float));
  if (p)
    for (long i = 0; i < n; i++) {
      seed = seed * 1664525u + 1013904223u;
      p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
  return p;
}

/* Every case's operands (x, w, y), then A, B and C of the SGEMM: made once, outside the timing. */
typedef struct {
  float *conv[WORKLOAD_CASES][3];
  float *gemm[3];
} workload_buffers;

static void free_buffers(workload_buffers *b) {
  for (size_t c = 0; c < WORKLOAD_CASES; c++)
    for (int i = 0; i < 3; i++) free(b->conv[c][i]);
  for (int i = 0; i < 3; i++) free(b->gemm[i]);
}

static int make_buffers(workload_buffers *b) {
  memset(b, 0, sizeof *b);
  int ok = 1;
  for (size_t c = 0; c < WORKLOAD_CASES; c++) {
    const conv_case *w = &workload[c];
    const long p = w->k / 2, Ho = (w->H + 2 * p - w->k) / w->s + 1;
    b->conv[c][0] = filled(w->N * w->C * w->H * w->H, 1);
    b->conv[c][1] = filled(w->O * w->C * w->k * w->k, 2);
    b->conv[c][2] = filled(w->N * w->O * Ho * Ho, 3);
    ok = ok && b->conv[c][0] && b->conv[c][1] && b->conv[c][2];
  }
  b->gemm[0] = filled(WL_M * WL_K, 4);
  b->gemm[1] = filled(WL_K * WL_N, 5);
  b->gemm[2] = filled(WL_M * WL_N, 6);
  return ok && b->gemm[0] && b->gemm[1] && b->gemm[2];
}

/* Seconds of the kernels alone, or -1 when one fails. */
static double run_workload(const workload_buffers *b) {
  const double t0 = now();
  for (size_t c = 0; c < WORKLOAD_CASES; c++) {
    const conv_case *w = &workload[c];
    const long p = w->k / 2, Ho = (w->H + 2 * p - w->k) / w->s + 1;
    const hesse_geom g = {w->C, w->H, w->H, w->k, w->k, w->s, w->s, p, p, Ho, Ho};
    float *x = b->conv[c][0], *wt = b->conv[c][1], *y = b->conv[c][2];
    int rc;
    if (w->which == 0) rc = hesse_conv2d_forward(x, wt, 0, 0, y, w->N, w->O, &g, 0);
    else if (w->which == 1) rc = hesse_conv2d_backward_input(y, wt, 0, 0, x, w->N, w->O, &g, 0);
    else rc = hesse_conv2d_backward_weight(y, x, wt, w->N, w->O, &g, 0);
    if (rc != 0) return -1.0;
  }
  const hesse_gemm_args g = {0, 0, WL_M, WL_N, WL_K, 1.0f, b->gemm[0], WL_K, b->gemm[1], WL_N, 0.0f, b->gemm[2], WL_N};
  if (hesse_sgemm(&g, 1) != 0) return -1.0;
  return now() - t0;
}

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double hesse_time_workload(int reps) {
  if (reps > WL_MAX_REPS) reps = WL_MAX_REPS;
  workload_buffers b;
  if (!make_buffers(&b)) {
    free_buffers(&b);
    return -1.0;
  }
  const int threads = hesse_threads_get();
  hesse_threads_set(1);
  double t[WL_MAX_REPS];
  /* one run first, not counted: it touches the operands' pages and the kernels' work buffers */
  int ok = run_workload(&b) >= 0;
  for (int r = 0; r < reps && ok; r++) ok = (t[r] = run_workload(&b)) >= 0;
  hesse_threads_set(threads);
  free_buffers(&b);
  if (!ok) return -1.0;
  qsort(t, (size_t)reps, sizeof t[0], compare_doubles);
  return reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
}
