/* Portable tile: small enough that 4x8 accumulators fit the 16 SSE or 32 NEON registers after auto-vectorisation. */
#include "microkernel.h"

#define MR 4
#define NR 8

void hesse_tile_store(const float *acc, int nr, float *c, long ldc, float beta, int m, int n) {
  for (int r = 0; r < m; r++) {
    float *cr = c + r * ldc;
    const float *ar = acc + r * nr;
    if (beta == 0.0f) {
      for (int j = 0; j < n; j++) cr[j] = ar[j];
    } else {
      for (int j = 0; j < n; j++) cr[j] = ar[j] + beta * cr[j];
    }
  }
}

static void generic_4x8(long kc, const float *restrict a, const float *restrict b, float *restrict c, long ldc, float beta,
                        int m, int n) {
  float acc[MR * NR] = {0};
  for (long k = 0; k < kc; k++) {
    for (int r = 0; r < MR; r++) {
      const float ar = a[r];
      for (int j = 0; j < NR; j++) acc[r * NR + j] += ar * b[j];
    }
    a += MR;
    b += NR;
  }
  hesse_tile_store(acc, NR, c, ldc, beta, m, n);
}

static void generic_4x8_indirect HESSE_INDIRECT_PARAMS {
  float acc[MR * NR] = {0};
  for (long k = 0; k < kc; k++) {
    const float *lo = b + boff[k], *hi = lo + half - NR / 2; /* hi[j] for j >= NR/2 */
    for (int r = 0; r < MR; r++) {
      const float ar = a[r];
      for (int j = 0; j < NR / 2; j++) acc[r * NR + j] += ar * lo[j];
      for (int j = NR / 2; j < NR; j++) acc[r * NR + j] += ar * hi[j];
    }
    a += MR;
  }
  hesse_tile_store(acc, NR, c, ldc, beta, m, n);
}

const hesse_ukernel hesse_ukernel_generic = {"portable C 4x8", MR, NR, 256, 128, 2048, generic_4x8, generic_4x8_indirect, 0, 0, 0};

const hesse_ukernel *hesse_ukernel_for(hesse_isa isa, long M) {
#if defined(__x86_64__)
  if (isa == HESSE_ISA_AVX512) {
    /* Equally fast per FMA; pick the one that pads M least (16, 32, 64 rows: 8; 144, 576: 12). */
    const long pad8 = (M + 7) / 8 * 8, pad12 = (M + 11) / 12 * 12;
    return pad8 < pad12 ? &hesse_ukernel_avx512_8x32 : &hesse_ukernel_avx512_12x32;
  }
  if (isa == HESSE_ISA_AVX2) return &hesse_ukernel_avx2;
#else
  (void)isa;
  (void)M;
#endif
  return &hesse_ukernel_generic;
}

const hesse_ukernel *hesse_ukernel_narrow(hesse_isa isa, long M) {
#if defined(__x86_64__)
  /* rows padded to 16 waste less than columns padded to 32 once M > 8 */
  if (isa == HESSE_ISA_AVX512 && M > 8) return &hesse_ukernel_avx512_16x16;
#endif
  return hesse_ukernel_for(isa, M);
}
