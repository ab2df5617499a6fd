#include "gemm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "microkernel.h"
#include "pack.h"
#include "threads.h"

#ifdef HESSE_HAVE_OPENBLAS
#include <cblas.h>
#endif

/* Below this many multiply-adds a second thread costs more to start than it saves. */
#define THREAD_MIN_MACS (1L << 20)

static long min_l(long a, long b) { return a < b ? a : b; }
static long ceil_div(long a, long b) { return (a + b - 1) / b; }
static long round_up(long a, long b) { return ceil_div(a, b) * b; }

float *hesse_ws_get(hesse_ws *ws, int slot, long n) {
  if (n < 1) n = 1;
  if (ws->cap[slot] >= n) return ws->buf[slot];
  free(ws->buf[slot]);
  void *p = 0;
  if (posix_memalign(&p, 64, (size_t)n * sizeof(float)) != 0) p = 0;
  ws->buf[slot] = (float *)p;
  ws->cap[slot] = p ? n : 0;
  return ws->buf[slot];
}

void hesse_ws_free(hesse_ws *ws) {
  for (int i = 0; i < HESSE_WS_SLOTS; i++) {
    free(ws->buf[i]);
    ws->buf[i] = 0;
    ws->cap[i] = 0;
  }
}

static pthread_key_t ws_keys[2];
static pthread_once_t ws_keys_once = PTHREAD_ONCE_INIT;

static void free_thread_ws(void *p) {
  hesse_ws_free((hesse_ws *)p);
  free(p);
}

static void make_ws_keys(void) {
  pthread_key_create(&ws_keys[0], free_thread_ws);
  pthread_key_create(&ws_keys[1], free_thread_ws);
}

hesse_ws *hesse_thread_ws(hesse_ws_user user) {
  pthread_once(&ws_keys_once, make_ws_keys);
  hesse_ws *ws = (hesse_ws *)pthread_getspecific(ws_keys[user]);
  if (!ws) {
    ws = (hesse_ws *)calloc(1, sizeof *ws);
    if (ws && pthread_setspecific(ws_keys[user], ws) != 0) {
      free(ws);
      ws = 0;
    }
  }
  return ws;
}

/* C = beta*C without reading C when beta is 0. */
static void scale_c(const hesse_gemm_args *g) {
  for (long i = 0; i < g->M; i++) {
    float *c = g->C + i * g->ldc;
    if (g->beta == 0.0f) memset(c, 0, (size_t)g->N * sizeof(float));
    else if (g->beta != 1.0f)
      for (long j = 0; j < g->N; j++) c[j] *= g->beta;
  }
}

/* Splits `total` into equal blocks no larger than `cap`, each a multiple of `quantum`. */
static long balanced_block(long total, long cap, long quantum) {
  const long nblocks = ceil_div(total, cap);
  return round_up(ceil_div(total, nblocks), quantum);
}

/* The five loops around the micro-kernel (Goto / BLIS order): B panel in L3, A block in L2, B micro-panel in L1. */
static int own_serial(const hesse_gemm_args *g, hesse_ws *ws) {
  const hesse_ukernel *uk = hesse_ukernel_for(hesse_isa_get(), g->M);
  const int MR = uk->mr, NR = uk->nr;
  const long KC = balanced_block(g->K, uk->kc, 1);
  const long MC = balanced_block(g->M, uk->mc, MR);
  const long NC = balanced_block(g->N, uk->nc, NR);
  float *bufA = hesse_ws_get(ws, 0, MC * KC);
  float *bufB = hesse_ws_get(ws, 1, NC * KC);
  if (!bufA || !bufB) return -1;

  for (long jc = 0; jc < g->N; jc += NC) {
    const long nc = min_l(NC, g->N - jc);
    for (long pc = 0; pc < g->K; pc += KC) {
      const long kc = min_l(KC, g->K - pc);
      const float beta = pc == 0 ? g->beta : 1.0f;
      hesse_pack_b(g->transB, g->B, g->ldb, pc, kc, jc, nc, NR, bufB);
      for (long ic = 0; ic < g->M; ic += MC) {
        const long mc = min_l(MC, g->M - ic);
        hesse_pack_a(g->transA, g->A, g->lda, ic, mc, pc, kc, g->alpha, MR, bufA);
        for (long jr = 0; jr < nc; jr += NR) {
          const int n = (int)min_l(NR, nc - jr);
          const float *bp = bufB + jr * kc;
          for (long ir = 0; ir < mc; ir += MR) {
            const int m = (int)min_l(MR, mc - ir);
            hesse_ukernel_fn_for(uk, m)(kc, bufA + ir * kc, bp, g->C + (ic + ir) * g->ldc + jc + jr, g->ldc, beta, m, n);
          }
        }
      }
    }
  }
  return 0;
}

int hesse_sgemm_serial(const hesse_gemm_args *g, hesse_gemm_backend backend, hesse_ws *ws) {
  if (g->M <= 0 || g->N <= 0) return 0;
  if (g->K <= 0 || g->alpha == 0.0f) {
    scale_c(g);
    return 0;
  }
#ifdef HESSE_HAVE_OPENBLAS
  if (backend == HESSE_GEMM_BLAS) {
    cblas_sgemm(CblasRowMajor, g->transA ? CblasTrans : CblasNoTrans, g->transB ? CblasTrans : CblasNoTrans, (int)g->M,
                (int)g->N, (int)g->K, g->alpha, g->A, (int)g->lda, g->B, (int)g->ldb, g->beta, g->C, (int)g->ldc);
    return 0;
  }
#else
  (void)backend;
#endif
  return own_serial(g, ws);
}

typedef struct {
  const hesse_gemm_args *g;
  hesse_gemm_backend backend;
  int split_n;
  long per; /* columns (or rows) of C per chunk, a whole number of tiles */
  int failed;
} split_job;

/* Chunk c takes a contiguous, tile-aligned range of columns (or rows) of C. */
static void run_chunk(void *ctx, int c, int nchunks) {
  split_job *s = (split_job *)ctx;
  const hesse_gemm_args *g = s->g;
  const long total = s->split_n ? g->N : g->M;
  const long lo = min_l(total, c * s->per), hi = c == nchunks - 1 ? total : min_l(total, lo + s->per);
  if (hi <= lo) return;
  hesse_gemm_args part = *g;
  if (s->split_n) {
    part.N = hi - lo;
    part.B = g->transB ? g->B + lo * g->ldb : g->B + lo;
    part.C = g->C + lo;
  } else {
    part.M = hi - lo;
    part.A = g->transA ? g->A + lo : g->A + lo * g->lda;
    part.C = g->C + lo * g->ldc;
  }
  hesse_ws *ws = hesse_thread_ws(HESSE_WS_GEMM);
  if (!ws || hesse_sgemm_serial(&part, s->backend, ws) != 0) s->failed = 1;
}

int hesse_sgemm(const hesse_gemm_args *g, int nthreads) {
  const hesse_gemm_backend backend = hesse_gemm_backend_get();
  const double macs = (double)g->M * (double)g->N * (double)g->K;
  split_job s = {g, backend, g->N >= g->M, 0, 0};
  const long total = s.split_n ? g->N : g->M;
  int nchunks = 1;
  s.per = total;
  if (nthreads > 1 && macs >= (double)THREAD_MIN_MACS) {
    /* Split along the longer side of C; three chunks per thread let a thread the OS runs late take fewer. */
    const hesse_ukernel *uk = hesse_ukernel_for(hesse_isa_get(), g->M);
    const long quantum = s.split_n ? uk->nr : uk->mr;
    const long tiles = ceil_div(total, quantum);
    const long want = min_l(tiles, 3L * nthreads);
    s.per = ceil_div(tiles, want) * quantum;
    nchunks = (int)ceil_div(total, s.per);
  }
  hesse_parallel(nchunks, nthreads, run_chunk, &s);
  return s.failed ? -1 : 0;
}

const char *hesse_own_kernel_name(void) {
  switch (hesse_isa_get()) {
    case HESSE_ISA_AVX512: return "AVX-512 8x32/12x32/16x16";
    case HESSE_ISA_AVX2: return "AVX2/FMA 6x16";
    default: return "portable C 4x8";
  }
}
