/*
 * Register-blocked GEMM micro-kernels. Each computes one MR x NR tile of C from packed panels:
 * a holds kc columns of MR values (a[k*MR + r]), b holds kc rows of NR values (b[k*NR + j]).
 * beta == 0 writes the tile without reading C (NaN there must not leak); otherwise C = tile + beta*C.
 * Only the first m rows and n columns are written (edge tiles); the panels are zero-padded to MR, NR.
 */
#ifndef HESSE_MICROKERNEL_H
#define HESSE_MICROKERNEL_H

#include "config.h"

typedef void (*hesse_ukernel_fn)(long kc, const float *a, const float *b, float *c, long ldc, float beta, int m, int n);

/*
 * The same product, but row k of B is read in place instead of from a packed panel: its first NR/2
 * floats at b + boff[k], its last NR/2 at b + boff[k] + half (half = NR/2 for a contiguous row; a
 * convolution whose output rows are NR/2 wide reads two image rows, Wq apart, as one B row).
 */
typedef void (*hesse_ukernel_indirect_fn)(long kc, const float *a, const float *b, const long *boff, long half, float *c,
                                          long ldc, float beta, int m, int n);

/* An indirect kernel's parameter list, as its definitions spell it. */
#define HESSE_INDIRECT_PARAMS                                                                                   \
  (long kc, const float *restrict a, const float *restrict b, const long *restrict boff, long half, float *restrict c, \
   long ldc, float beta, int m, int n)

/*
 * The indirect kernel NAME, which picks per call between NAME_whole (rows in one piece: the second
 * half at the constant WHOLE_HALF = NR/2, so the common case keeps its constant offset) and
 * NAME_split (the second half at `half`).
 */
#define HESSE_PICK_INDIRECT(ATTR, NAME, WHOLE_HALF)                                                \
  ATTR static void NAME HESSE_INDIRECT_PARAMS {                                                   \
    (half == (WHOLE_HALF) ? NAME##_whole : NAME##_split)(kc, a, b, boff, half, c, ldc, beta, m, n); \
  }

typedef struct {
  const char *name;
  int mr, nr;
  /* Cache blocking that suits the tile: kc*nr floats of B stay in L1, mc*kc of A in L2. */
  int kc, mc, nc;
  hesse_ukernel_fn fn;
  hesse_ukernel_indirect_fn indirect;
  /*
   * Optional (tail_mr 0 where absent): the same products for tiles of at most tail_mr rows, read
   * from the same MR-row panels and summed in the same order (so the same bits), at less cost than
   * the full tile computing rows of padding.
   */
  int tail_mr;
  hesse_ukernel_fn tail;
  hesse_ukernel_indirect_fn tail_indirect;
} hesse_ukernel;

/* The kernel for a tile of m rows: the tail where there is one and m fits it. */
static inline hesse_ukernel_fn hesse_ukernel_fn_for(const hesse_ukernel *uk, int m) {
  return m <= uk->tail_mr ? uk->tail : uk->fn;
}
static inline hesse_ukernel_indirect_fn hesse_ukernel_indirect_for(const hesse_ukernel *uk, int m) {
  return m <= uk->tail_mr ? uk->tail_indirect : uk->indirect;
}

extern const hesse_ukernel hesse_ukernel_generic;
#if defined(__x86_64__)
extern const hesse_ukernel hesse_ukernel_avx2;
extern const hesse_ukernel hesse_ukernel_avx512_8x32;
extern const hesse_ukernel hesse_ukernel_avx512_12x32;
extern const hesse_ukernel hesse_ukernel_avx512_16x16;
#endif

/* The micro-kernel for this instruction set that wastes least work on a C with M rows. */
const hesse_ukernel *hesse_ukernel_for(hesse_isa isa, long M);

/* The same for a C of M rows and at most 16 columns (a narrower tile where the ISA has one). */
const hesse_ukernel *hesse_ukernel_narrow(hesse_isa isa, long M);

/* Writes the m x n corner of a full tile held in acc (row stride NR) to C, with beta as above. */
void hesse_tile_store(const float *acc, int nr, float *c, long ldc, float beta, int m, int n);

#endif
