#include "pack.h"

#include <string.h>

#include "config.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* Eight rows of eight become eight columns: three rounds of shuffles, no scalar stores. */
__attribute__((target("avx2"))) static inline void transpose_8x8_regs_avx2(const float *const *row, long k, __m256 out[8]) {
  const __m256 r0 = _mm256_loadu_ps(row[0] + k), r1 = _mm256_loadu_ps(row[1] + k), r2 = _mm256_loadu_ps(row[2] + k),
               r3 = _mm256_loadu_ps(row[3] + k), r4 = _mm256_loadu_ps(row[4] + k), r5 = _mm256_loadu_ps(row[5] + k),
               r6 = _mm256_loadu_ps(row[6] + k), r7 = _mm256_loadu_ps(row[7] + k);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
               t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
               u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
               u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
               u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  out[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  out[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  out[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  out[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  out[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  out[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  out[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  out[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* The first n (1..7) floats of v, without a masked store (slow on AMD cores). */
__attribute__((target("avx2"))) static inline void store_first_avx2(float *dst, __m256 v, long n) {
  __m128 q = _mm256_castps256_ps128(v);
  if (n >= 4) {
    _mm_storeu_ps(dst, q);
    dst += 4;
    n -= 4;
    q = _mm256_extractf128_ps(v, 1);
  }
  if (n >= 2) {
    _mm_storel_pi((__m64 *)dst, q);
    dst += 2;
    n -= 2;
    q = _mm_movehl_ps(q, q);
  }
  if (n) _mm_store_ss(dst, q);
}

__attribute__((target("avx2"))) static void transpose_rows_avx2(const float *const *rows, long nrows, long cols,
                                                               float *dst, long ldd) {
  __m256 t[8];
  long r = 0;
  for (; r + 8 <= nrows; r += 8) {
    long k = 0;
    for (; k + 8 <= cols; k += 8) {
      transpose_8x8_regs_avx2(rows + r, k, t);
      for (long i = 0; i < 8; i++) _mm256_storeu_ps(dst + (k + i) * ldd + r, t[i]);
    }
    for (; k < cols; k++)
      for (long i = 0; i < 8; i++) dst[k * ldd + r + i] = rows[r + i][k];
  }
  if (r < nrows) {
    /* the last 1-7 rows (6 of them in each panel of the AVX2 6-row tile): the rows past them read row r again, unstored */
    const long n = nrows - r;
    const float *part[8];
    for (long i = 0; i < 8; i++) part[i] = rows[r + (i < n ? i : 0)];
    long k = 0;
    for (; k + 8 <= cols; k += 8) {
      transpose_8x8_regs_avx2(part, k, t);
      for (long i = 0; i < 8; i++) store_first_avx2(dst + (k + i) * ldd + r, t[i], n);
    }
    for (; k < cols; k++)
      for (long i = 0; i < n; i++) dst[k * ldd + r + i] = rows[r + i][k];
  }
}
#endif

void hesse_transpose_rows(const float *const *rows, long nrows, long cols, float *dst, long ldd) {
#if defined(__x86_64__)
  if (hesse_isa_get() >= HESSE_ISA_AVX2) {
    transpose_rows_avx2(rows, nrows, cols, dst, ldd);
    return;
  }
#endif
  /* Blocks of 8 keep both the reads and the strided writes within a few cache lines. */
  for (long r0 = 0; r0 < nrows; r0 += 8)
    for (long k0 = 0; k0 < cols; k0 += 8)
      for (long r = r0; r < r0 + 8 && r < nrows; r++)
        for (long k = k0; k < k0 + 8 && k < cols; k++) dst[k * ldd + r] = rows[r][k];
}

void hesse_transpose(const float *src, long lds, long rows, long cols, float *dst, long ldd) {
  const float *ptr[64];
  for (long r0 = 0; r0 < rows; r0 += 64) {
    const long n = rows - r0 < 64 ? rows - r0 : 64;
    for (long r = 0; r < n; r++) ptr[r] = src + (r0 + r) * lds;
    hesse_transpose_rows(ptr, n, cols, dst + r0, ldd);
  }
}

static void scale(float *p, long n, float alpha) {
  if (alpha != 1.0f)
    for (long i = 0; i < n; i++) p[i] *= alpha;
}

void hesse_pack_a(int trans, const float *A, long lda, long i0, long mc, long p0, long kc, float alpha, int mr, float *dst) {
  for (long ir = 0; ir < mc; ir += mr) {
    const long m = mc - ir < mr ? mc - ir : mr;
    if (!trans) {
      hesse_transpose(A + (i0 + ir) * lda + p0, lda, m, kc, dst, mr);
      for (long k = 0; k < kc; k++)
        for (long r = m; r < mr; r++) dst[k * mr + r] = 0.0f;
    } else {
      for (long k = 0; k < kc; k++) {
        const float *src = A + (p0 + k) * lda + i0 + ir;
        float *d = dst + k * mr;
        for (long r = 0; r < m; r++) d[r] = src[r];
        for (long r = m; r < mr; r++) d[r] = 0.0f;
      }
    }
    /* alpha is folded into A here, so the micro-kernel never multiplies by it. */
    scale(dst, (long)mr * kc, alpha);
    dst += (long)mr * kc;
  }
}

void hesse_pack_b(int trans, const float *B, long ldb, long p0, long kc, long j0, long nc, int nr, float *dst) {
  for (long jr = 0; jr < nc; jr += nr) {
    const long n = nc - jr < nr ? nc - jr : nr;
    if (!trans) {
      const float *src = B + p0 * ldb + j0 + jr;
      /* fixed-size copies compile to a few vector moves; a variable size would call memcpy per row */
      if (n == nr && nr == 32) {
        for (long k = 0; k < kc; k++) memcpy(dst + k * 32, src + k * ldb, 32 * sizeof(float));
      } else if (n == nr && nr == 16) {
        for (long k = 0; k < kc; k++) memcpy(dst + k * 16, src + k * ldb, 16 * sizeof(float));
      } else if (n == nr && nr == 8) {
        for (long k = 0; k < kc; k++) memcpy(dst + k * 8, src + k * ldb, 8 * sizeof(float));
      } else {
        for (long k = 0; k < kc; k++) {
          float *d = dst + k * nr;
          for (long j = 0; j < n; j++) d[j] = src[k * ldb + j];
          for (long j = n; j < nr; j++) d[j] = 0.0f;
        }
      }
    } else {
      hesse_transpose(B + (j0 + jr) * ldb + p0, ldb, n, kc, dst, nr);
      if (n < nr)
        for (long k = 0; k < kc; k++)
          for (long j = n; j < nr; j++) dst[k * nr + j] = 0.0f;
    }
    dst += (long)nr * kc;
  }
}
