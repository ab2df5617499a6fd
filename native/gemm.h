/* Row-major SGEMM with leading dimensions: C = alpha*op(A)*op(B) + beta*C, op(A) M x K, op(B) K x N. */
#ifndef HESSE_GEMM_H
#define HESSE_GEMM_H

#include "config.h"

typedef struct {
  int transA, transB;
  long M, N, K;
  float alpha;
  const float *A;
  long lda;
  const float *B;
  long ldb;
  float beta;
  float *C;
  long ldc;
} hesse_gemm_args;

/* Packing buffers one thread reuses across calls; zero-initialise, release with hesse_ws_free. */
#define HESSE_WS_SLOTS 4
typedef struct {
  float *buf[HESSE_WS_SLOTS];
  long cap[HESSE_WS_SLOTS];
} hesse_ws;

/* A 64-byte aligned buffer of at least n floats in one of the slots; NULL when out of memory. */
float *hesse_ws_get(hesse_ws *ws, int slot, long n);
void hesse_ws_free(hesse_ws *ws);

/*
 * The calling thread's own workspace, kept between calls (allocating a few hundred KB per call
 * costs page faults that show at these sizes) and freed when the thread exits. One per user, so
 * a convolution that calls the GEMM does not lend it buffers it is still using.
 */
typedef enum { HESSE_WS_GEMM = 0, HESSE_WS_CONV = 1 } hesse_ws_user;
hesse_ws *hesse_thread_ws(hesse_ws_user user);

/* Uses the configured backend; nthreads > 1 splits large products over that many threads. Returns -1 when out of memory. */
int hesse_sgemm(const hesse_gemm_args *g, int nthreads);

/* One thread, explicit backend, caller's workspace: for callers that split the work themselves. Returns -1 when out of memory. */
int hesse_sgemm_serial(const hesse_gemm_args *g, hesse_gemm_backend backend, hesse_ws *ws);

/* The own backend's micro-kernels for the current instruction set, e.g. "AVX2/FMA 6x16". */
const char *hesse_own_kernel_name(void);

#endif
