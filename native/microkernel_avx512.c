/*
 * AVX-512 tiles of MR x 32: 2*MR zmm accumulators; each step loads two B vectors and broadcasts
 * MR values of A. Zen 5 and recent Intel cores run two 512-bit FMAs per cycle, twice AVX2.
 * A 16 x 16 tile (one vector per row) serves products only 16 columns wide, where a 32-wide tile
 * would compute half its lanes for nothing.
 */
#if defined(__x86_64__)
#include <immintrin.h>

#include "microkernel.h"

#define TARGET __attribute__((target("avx512f")))
#define NR 32

#define ROW_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define ROW_FMA(r)                              \
  {                                             \
    const __m512 ar = _mm512_set1_ps(a[(r)]);   \
    c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0); \
    c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1); \
  }
#define ROW_STORE(r)                        \
  _mm512_storeu_ps(c + (r) * ldc, c##r##0); \
  _mm512_storeu_ps(c + (r) * ldc + 16, c##r##1);
#define ROW_UPDATE(r)                                                                            \
  _mm512_storeu_ps(c + (r) * ldc, _mm512_fmadd_ps(bv, _mm512_loadu_ps(c + (r) * ldc), c##r##0)); \
  _mm512_storeu_ps(c + (r) * ldc + 16, _mm512_fmadd_ps(bv, _mm512_loadu_ps(c + (r) * ldc + 16), c##r##1));
#define ROW_SPILL(r)                         \
  _mm512_store_ps(acc + (r) * NR, c##r##0); \
  _mm512_store_ps(acc + (r) * NR + 16, c##r##1);

#define R8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define R12(M) R8(M) M(8) M(9) M(10) M(11)

/* BROW(k) is the address of row k of B: a packed panel, or a row of the image read in place. */
#define DEFINE_KERNEL(NAME, MR, ROWS, PARAMS, BROW, HALF, STEP)                                    \
  TARGET static void NAME PARAMS {                                                                 \
    ROWS(ROW_DECL)                                                                                 \
    for (long k = 0; k < kc; k++) {                                                                \
      const float *bk = BROW;                                                                      \
      const __m512 b0 = _mm512_loadu_ps(bk), b1 = _mm512_loadu_ps(bk + HALF);                      \
      ROWS(ROW_FMA)                                                                                \
      a += MR;                                                                                     \
      STEP;                                                                                        \
    }                                                                                              \
    if (m == MR && n == NR) {                                                                      \
      if (beta == 0.0f) {                                                                          \
        ROWS(ROW_STORE)                                                                            \
      } else {                                                                                     \
        const __m512 bv = _mm512_set1_ps(beta);                                                    \
        ROWS(ROW_UPDATE)                                                                           \
      }                                                                                            \
    } else {                                                                                       \
      float acc[MR * NR] __attribute__((aligned(64)));                                             \
      ROWS(ROW_SPILL)                                                                              \
      hesse_tile_store(acc, NR, c, ldc, beta, m, n);                                               \
    }                                                                                              \
  }

#define PACKED (long kc, const float *restrict a, const float *restrict b, float *restrict c, long ldc, float beta, int m, int n)
#define INDIRECT HESSE_INDIRECT_PARAMS

DEFINE_KERNEL(avx512_8x32, 8, R8, PACKED, b, 16, b += NR)
DEFINE_KERNEL(avx512_12x32, 12, R12, PACKED, b, 16, b += NR)
DEFINE_KERNEL(avx512_8x32_indirect_whole, 8, R8, INDIRECT, b + boff[k], 16, (void)0)
DEFINE_KERNEL(avx512_8x32_indirect_split, 8, R8, INDIRECT, b + boff[k], half, (void)0)
HESSE_PICK_INDIRECT(TARGET, avx512_8x32_indirect, 16)
DEFINE_KERNEL(avx512_12x32_indirect_whole, 12, R12, INDIRECT, b + boff[k], 16, (void)0)
DEFINE_KERNEL(avx512_12x32_indirect_split, 12, R12, INDIRECT, b + boff[k], half, (void)0)
HESSE_PICK_INDIRECT(TARGET, avx512_12x32_indirect, 16)

#undef NR
#define NR 16
#define ROW1_DECL(r) __m512 c##r = _mm512_setzero_ps();
#define ROW1_FMA(r) c##r = _mm512_fmadd_ps(_mm512_set1_ps(a[(r)]), b0, c##r);
#define ROW1_STORE(r) _mm512_storeu_ps(c + (r) * ldc, c##r);
#define ROW1_UPDATE(r) _mm512_storeu_ps(c + (r) * ldc, _mm512_fmadd_ps(bv, _mm512_loadu_ps(c + (r) * ldc), c##r));
#define ROW1_SPILL(r) _mm512_store_ps(acc + (r) * NR, c##r);
#define R16(M) R12(M) M(12) M(13) M(14) M(15)

#define DEFINE_KERNEL16(NAME, MR, ROWS, PARAMS, BROW, LOAD, STEP)                                  \
  TARGET static void NAME PARAMS {                                                                 \
    ROWS(ROW1_DECL)                                                                                \
    for (long k = 0; k < kc; k++) {                                                                \
      const float *bk = BROW;                                                                      \
      const __m512 b0 = LOAD;                                                                      \
      ROWS(ROW1_FMA)                                                                               \
      a += MR;                                                                                     \
      STEP;                                                                                        \
    }                                                                                              \
    if (m == MR && n == NR) {                                                                      \
      if (beta == 0.0f) {                                                                          \
        ROWS(ROW1_STORE)                                                                           \
      } else {                                                                                     \
        const __m512 bv = _mm512_set1_ps(beta);                                                    \
        ROWS(ROW1_UPDATE)                                                                          \
      }                                                                                            \
    } else {                                                                                       \
      float acc[MR * NR] __attribute__((aligned(64)));                                             \
      ROWS(ROW1_SPILL)                                                                             \
      hesse_tile_store(acc, NR, c, ldc, beta, m, n);                                               \
    }                                                                                              \
  }

/* B row k as one vector from two halves: the second 8 floats from bk + half */
#define SPLIT_ROW16                                                                                              \
  _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(bk))),              \
                                      _mm256_castps_pd(_mm256_loadu_ps(bk + half)), 1))
DEFINE_KERNEL16(avx512_16x16, 16, R16, PACKED, b, _mm512_loadu_ps(bk), b += NR)
DEFINE_KERNEL16(avx512_16x16_indirect_whole, 16, R16, INDIRECT, b + boff[k], _mm512_loadu_ps(bk), (void)0)
DEFINE_KERNEL16(avx512_16x16_indirect_split, 16, R16, INDIRECT, b + boff[k], SPLIT_ROW16, (void)0)
HESSE_PICK_INDIRECT(TARGET, avx512_16x16_indirect, 8)

const hesse_ukernel hesse_ukernel_avx512_16x16 = {"AVX-512 16x16", 16, 16, 256, 192, 4096, avx512_16x16, avx512_16x16_indirect, 0, 0, 0};

const hesse_ukernel hesse_ukernel_avx512_8x32 = {"AVX-512 8x32", 8, 32, 256, 192, 4096, avx512_8x32, avx512_8x32_indirect, 0, 0, 0};
const hesse_ukernel hesse_ukernel_avx512_12x32 = {"AVX-512 12x32", 12, 32, 256, 192, 4096, avx512_12x32,
                                                  avx512_12x32_indirect, 0, 0, 0};
#endif
