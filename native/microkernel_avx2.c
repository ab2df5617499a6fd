/*
 * AVX2/FMA tile of 6 x 16: twelve ymm accumulators, two for the B row and one broadcast of A use
 * 15 of the 16 registers, and each step issues 12 FMAs against 8 loads. The loop is unrolled four
 * times (on a Zen 3 core the tile alone in L1 went from about 80 to about 93 GFLOP/s, of a 97 peak).
 * The 4 x 16 tail serves the last rows of a C whose row count leaves 4 or fewer over (16 = 6+6+4,
 * 32 = 5*6+2): eight accumulators, at about 0.7 of the full tile's time, where the full tile would
 * compute its padding rows at full cost. It reads the same 6-row panels and sums in the same
 * order, so every row gets the same bits from either tile.
 */
#if defined(__x86_64__)
#include <immintrin.h>

#include "microkernel.h"

#define TARGET __attribute__((target("avx2,fma")))
#define MR 6
#define NR 16

#define ROW_DECL(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
#define ROW_FMA(r)                                  \
  {                                                 \
    const __m256 ar = _mm256_broadcast_ss(a + (r)); \
    c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0);     \
    c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1);     \
  }
#define ROW_STORE(r)                        \
  _mm256_storeu_ps(c + (r) * ldc, c##r##0); \
  _mm256_storeu_ps(c + (r) * ldc + 8, c##r##1);
#define ROW_UPDATE(r)                                                                            \
  _mm256_storeu_ps(c + (r) * ldc, _mm256_fmadd_ps(bv, _mm256_loadu_ps(c + (r) * ldc), c##r##0)); \
  _mm256_storeu_ps(c + (r) * ldc + 8, _mm256_fmadd_ps(bv, _mm256_loadu_ps(c + (r) * ldc + 8), c##r##1));
#define ROW_SPILL(r)                         \
  _mm256_store_ps(acc + (r) * NR, c##r##0); \
  _mm256_store_ps(acc + (r) * NR + 8, c##r##1);
#define R4(M) M(0) M(1) M(2) M(3)
#define R6(M) R4(M) M(4) M(5)

/* BROW(k) is the address of row k of B: a packed panel, or a row of the image read in place. */
#define DEFINE_KERNEL(NAME, TM, ROWS, PARAMS, BROW, HALF, STEP)                                 \
  TARGET static void NAME PARAMS {                                                               \
    ROWS(ROW_DECL)                                                                               \
    _Pragma("GCC unroll 4") for (long k = 0; k < kc; k++) {                                      \
      const float *bk = BROW;                                                                    \
      const __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + HALF);                    \
      ROWS(ROW_FMA)                                                                              \
      a += MR;                                                                                   \
      STEP;                                                                                      \
    }                                                                                            \
    if (m == TM && n == NR) {                                                                    \
      if (beta == 0.0f) {                                                                        \
        ROWS(ROW_STORE)                                                                          \
      } else {                                                                                   \
        const __m256 bv = _mm256_set1_ps(beta);                                                  \
        ROWS(ROW_UPDATE)                                                                         \
      }                                                                                          \
    } else {                                                                                     \
      float acc[TM * NR] __attribute__((aligned(32)));                                           \
      ROWS(ROW_SPILL)                                                                            \
      hesse_tile_store(acc, NR, c, ldc, beta, m, n);                                             \
    }                                                                                            \
  }

#define PACKED (long kc, const float *restrict a, const float *restrict b, float *restrict c, long ldc, float beta, int m, int n)
#define INDIRECT HESSE_INDIRECT_PARAMS

DEFINE_KERNEL(avx2_6x16, MR, R6, PACKED, b, 8, b += NR)
DEFINE_KERNEL(avx2_6x16_indirect_whole, MR, R6, INDIRECT, b + boff[k], 8, (void)0)
DEFINE_KERNEL(avx2_6x16_indirect_split, MR, R6, INDIRECT, b + boff[k], half, (void)0)
HESSE_PICK_INDIRECT(TARGET, avx2_6x16_indirect, 8)
/* the tail: 4 rows of the same 6-row panels (a still steps by MR) */
DEFINE_KERNEL(avx2_4x16, 4, R4, PACKED, b, 8, b += NR)
DEFINE_KERNEL(avx2_4x16_indirect_whole, 4, R4, INDIRECT, b + boff[k], 8, (void)0)
DEFINE_KERNEL(avx2_4x16_indirect_split, 4, R4, INDIRECT, b + boff[k], half, (void)0)
HESSE_PICK_INDIRECT(TARGET, avx2_4x16_indirect, 8)

const hesse_ukernel hesse_ukernel_avx2 = {"AVX2/FMA 6x16", MR, NR, 256, 144, 4096, avx2_6x16, avx2_6x16_indirect, 4, avx2_4x16, avx2_4x16_indirect};
#endif
