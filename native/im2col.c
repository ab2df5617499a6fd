#include "im2col.h"

#include "config.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static long clamp(long v, long lo, long hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The output columns ox whose input column ox*s - p + j falls inside [0, W): [*lo, *hi). */
static void valid_range(long Wo, long W, long s, long p, long j, long *lo, long *hi) {
  const long a = p - j;         /* need ox*s >= p - j */
  const long b = W - 1 + p - j; /* need ox*s <= W - 1 + p - j */
  long l = a <= 0 ? 0 : (a + s - 1) / s;
  long h = b < 0 ? 0 : b / s + 1;
  if (h > Wo) h = Wo;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/*
 * A run is one stretch of a block row along a single output row: dst[d + t] for t in [t0, t1),
 * reading x[base + t*sw] where t is in [a, b) and zero elsewhere. The packers call these with runs
 * of 8 to 32 elements, so each instruction set gets its own inline version and no library call.
 */
static inline void gather_run_plain(float *restrict dst, long d, const float *restrict x, long base, long sw, long t0,
                                    long t1, long a, long b) {
  for (long t = t0; t < a; t++) dst[d + t] = 0.0f;
  if (sw == 1)
    for (long t = a; t < b; t++) dst[d + t] = x[base + t];
  else
    for (long t = a; t < b; t++) dst[d + t] = x[base + t * sw];
  for (long t = b; t < t1; t++) dst[d + t] = 0.0f;
}

static inline void scatter_run_plain(float *restrict x, long base, long sw, const float *restrict src, long d, long a,
                                     long b) {
  if (sw == 1)
    for (long t = a; t < b; t++) x[base + t] += src[d + t];
  else
    for (long t = a; t < b; t++) x[base + t * sw] += src[d + t];
}

#if defined(__x86_64__)
/*
 * Stride 2, the downsampling convolutions: out[t] = src[2t] for t in [0, n), n >= 8, in vectors of
 * 8 built from two loads that end at src[2t + 14] (never past the last element read, src[2n - 2]);
 * the last vector overlaps the one before it (a copy may be written twice).
 */
__attribute__((target("avx2"))) static inline __m256 evens_of_pair_avx2(__m256 lo, __m256 hi) {
  /* lo = src[0..7], hi = src[7..14]: lanes (0 2 8 10 | 4 6 12 14) of src, then their 64-bit halves in order */
  const __m256 e = _mm256_shuffle_ps(lo, hi, 0xD8);
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
}

__attribute__((target("avx2"))) static inline __m256 evens_avx2(const float *src) {
  return evens_of_pair_avx2(_mm256_loadu_ps(src), _mm256_loadu_ps(src + 7));
}

__attribute__((target("avx2"))) static inline void gather2_avx2(float *restrict out, const float *restrict src, long n) {
  long t = 0;
  for (; t + 8 <= n; t += 8) _mm256_storeu_ps(out + t, evens_avx2(src + 2 * t));
  if (t < n) _mm256_storeu_ps(out + n - 8, evens_avx2(src + 2 * (n - 8)));
}

/*
 * x[2t] += s[t] for t in [0, n), n >= 8. The odd elements between get -0.0 added, which leaves every
 * float as it was (-0 included), so the sums are the plain loop's bits; both loads of a step come
 * before its stores, which write the same value where they overlap (x[2t + 7]). The last step
 * overlaps the one before it with -0.0 in the lanes already added.
 */
__attribute__((target("avx2"))) static inline void scatter2_step_avx2(float *restrict x, __m256 v) {
  const __m256 nz = _mm256_set1_ps(-0.0f);
  const __m256 a0 = _mm256_permute2f128_ps(_mm256_unpacklo_ps(v, nz), _mm256_unpackhi_ps(v, nz), 0x20); /* s0 . s1 . s2 . s3 . */
  const __m256 a1 = _mm256_permute2f128_ps(_mm256_unpacklo_ps(nz, v), _mm256_unpackhi_ps(nz, v), 0x31); /* . s4 . s5 . s6 . s7 */
  const __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 7);
  _mm256_storeu_ps(x, _mm256_add_ps(x0, a0));
  _mm256_storeu_ps(x + 7, _mm256_add_ps(x1, a1));
}

__attribute__((target("avx2"))) static inline void scatter2_avx2(float *restrict x, const float *restrict s, long n) {
  long t = 0;
  for (; t + 8 <= n; t += 8) scatter2_step_avx2(x + 2 * t, _mm256_loadu_ps(s + t));
  if (t < n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 done = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(t - (n - 8))), lane));
    scatter2_step_avx2(x + 2 * (n - 8), _mm256_blendv_ps(_mm256_loadu_ps(s + n - 8), _mm256_set1_ps(-0.0f), done));
  }
}

/*
 * Masked loads are slow on current AMD cores, so runs are copied with whole vectors: the tail of
 * a copy re-copies a few elements (harmless), the tail of an addition steps down in width.
 */
#define DEFINE_RUNS(SUFFIX, TARGET, W, LOAD, STORE, ADD)                                                             \
  TARGET static inline void gather_run_##SUFFIX(float *restrict dst, long d, const float *restrict x, long base,  \
                                                long sw, long t0, long t1, long a, long b) {                    \
    const long n = b - a;                                                                                         \
    if (!(sw == 1 && n >= W) && !(sw == 2 && n >= 8)) {                                                           \
      gather_run_plain(dst, d, x, base, sw, t0, t1, a, b);                                                        \
      return;                                                                                                     \
    }                                                                                                             \
    for (long t = t0; t < a; t++) dst[d + t] = 0.0f;                                                              \
    float *out = dst + d + a;                                                                                     \
    if (sw == 2) {                                                                                                \
      gather2_avx2(out, x + base + 2 * a, n);                                                                     \
    } else {                                                                                                      \
      const float *src = x + base + a;                                                                            \
      long t = 0;                                                                                                 \
      for (; t + W <= n; t += W) STORE(out + t, LOAD(src + t));                                                   \
      if (t < n) STORE(out + n - W, LOAD(src + n - W));                                                           \
    }                                                                                                             \
    for (long u = b; u < t1; u++) dst[d + u] = 0.0f;                                                              \
  }                                                                                                               \
  TARGET static inline void scatter_run_##SUFFIX(float *restrict x, long base, long sw, const float *restrict src, \
                                                 long d, long a, long b) {                                        \
    if (sw == 2 && b - a >= 8) {                                                                                  \
      scatter2_avx2(x + base + 2 * a, src + d + a, b - a);                                                        \
      return;                                                                                                     \
    }                                                                                                             \
    if (sw != 1) {                                                                                                \
      scatter_run_plain(x, base, sw, src, d, a, b);                                                               \
      return;                                                                                                     \
    }                                                                                                             \
    float *out = x + base + a;                                                                                    \
    const float *in = src + d + a;                                                                                \
    const long n = b - a;                                                                                         \
    long t = 0;                                                                                                   \
    for (; t + W <= n; t += W) STORE(out + t, ADD(LOAD(out + t), LOAD(in + t)));                                  \
    if (W > 4)                                                                                                    \
      for (; t + 4 <= n; t += 4) _mm_storeu_ps(out + t, _mm_add_ps(_mm_loadu_ps(out + t), _mm_loadu_ps(in + t))); \
    for (; t < n; t++) out[t] += in[t];                                                                           \
  }

DEFINE_RUNS(avx512, __attribute__((target("avx512f"))), 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps)
DEFINE_RUNS(avx2, __attribute__((target("avx2"))), 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps)
#endif

/*
 * Both directions walk the same runs: the block's pixels p0..p1 split into segments along output
 * rows, and within a segment each block row k = (c, i, j) is one run. Valid ranges per j are
 * computed once, so the walk has no divisions and its inner loop little but the copy.
 */
#define MAX_KW 64
#define WALK_BLOCK(ON_RUN)                                                               \
  const long Wo = g->Wo, khw = g->kh * g->kw, kw = g->kw;                                \
  long los[MAX_KW], his[MAX_KW];                                                         \
  for (long jj = 0; jj < kw && jj < MAX_KW; jj++) valid_range(Wo, g->W, g->sw, g->pw, jj, &los[jj], &his[jj]); \
  long oy = p0 / Wo, ox = p0 % Wo;                                                       \
  for (long p = p0; p < p1; oy++, ox = 0) {                                              \
    const long len = Wo - ox < p1 - p ? Wo - ox : p1 - p, end = ox + len;                \
    const long d0 = p - p0 - ox; /* block index of output column t in row k0 is d0 + t */ \
    long c = k0 / khw, i = (k0 % khw) / kw, j = k0 % kw;                                 \
    long d = d0;                                                                         \
    for (long k = k0; k < k1;) {                                                         \
      const long iy = oy * g->sh - g->ph + i;                                            \
      const int inside = iy >= 0 && iy < g->H;                                           \
      const long row_base = (c * g->H + iy) * g->W - g->pw;                              \
      for (; j < kw && k < k1; j++, k++, d += ld) {                                      \
        long lo, hi;                                                                     \
        if (j < MAX_KW) {                                                                \
          lo = los[j];                                                                   \
          hi = his[j];                                                                   \
        } else {                                                                         \
          valid_range(Wo, g->W, g->sw, g->pw, j, &lo, &hi);                              \
        }                                                                                \
        /* valid output columns of the run; empty when the input row is padding */       \
        const long a = inside ? clamp(lo, ox, end) : ox;                                 \
        const long b = inside ? clamp(hi, a, end) : ox;                                  \
        const long base = row_base + j; /* input index of output column t: base + t*sw */ \
        ON_RUN;                                                                          \
      }                                                                                  \
      j = 0;                                                                             \
      if (++i == g->kh) {                                                                \
        i = 0;                                                                           \
        c++;                                                                             \
      }                                                                                  \
    }                                                                                    \
    p += len;                                                                            \
  }

#define DEFINE_WALKERS(SUFFIX, TARGET)                                                                                 \
  TARGET static void im2col_##SUFFIX(const float *restrict x, const hesse_geom *g, long k0, long k1, long p0, long p1, \
                                     float *restrict dst, long ld) {                                                 \
    WALK_BLOCK(gather_run_##SUFFIX(dst, d, x, base, g->sw, ox, end, a, b))                                       \
  }                                                                                                                  \
  TARGET static void col2im_##SUFFIX(const float *restrict src, long ld, const hesse_geom *g, long k0, long k1,       \
                                     long p0, long p1, float *restrict x) {                                          \
    WALK_BLOCK(if (b > a) scatter_run_##SUFFIX(x, base, g->sw, src, d, a, b))                                         \
  }

/* Plane (c, j, a), row yy: padded x[c][yy*sh + a][x*sw + j] for the Wo output columns x, zero outside the image. */
#define DEFINE_PLANES(SUFFIX, TARGET)                                                                                  \
  TARGET static void planes_##SUFFIX(const hesse_planes *pl, const float *restrict x, float *restrict xq) {           \
    const long Hq = pl->Hq, Wo = pl->Wo, plane = Hq * Wo;                                                             \
    for (long c = 0; c < pl->C; c++)                                                                                  \
      for (long jj = 0; jj < pl->kw; jj++) {                                                                          \
        long x0, x1;                                                                                                  \
        valid_range(Wo, pl->W, pl->sw, pl->pw, jj, &x0, &x1);                                                         \
        for (long a = 0; a < pl->na; a++) {                                                                           \
          float *dst = xq + ((c * pl->kw + jj) * pl->na + a) * plane;                                                 \
          for (long yy = 0; yy < Hq; yy++) {                                                                          \
            const long sy = yy * pl->sh + a - pl->ph;                                                                 \
            float *row = dst + yy * Wo;                                                                               \
            if (sy < 0 || sy >= pl->H || x1 == x0)                                                                    \
              for (long t = 0; t < Wo; t++) row[t] = 0.0f;                                                            \
            else                                                                                                      \
              gather_run_##SUFFIX(row, 0, x, (c * pl->H + sy) * pl->W + jj - pl->pw, pl->sw, 0, Wo, x0, x1);          \
          }                                                                                                           \
        }                                                                                                             \
      }                                                                                                               \
  }

DEFINE_WALKERS(plain, )
DEFINE_PLANES(plain, )
#if defined(__x86_64__)
DEFINE_WALKERS(avx2, __attribute__((target("avx2"))))
DEFINE_WALKERS(avx512, __attribute__((target("avx512f"))))
DEFINE_PLANES(avx2, __attribute__((target("avx2"))))
DEFINE_PLANES(avx512, __attribute__((target("avx512f"))))
#endif

#if defined(__x86_64__)
/*
 * The AVX-512 planes for stride 1 and 2: zero-masked loads never touch the columns outside the
 * image (nor fault there), and every row is stored in whole vectors that may run into the next
 * row, which is written after it (the buffer has a strip of slack past the last plane).
 */
#define FAST_KW 7
__attribute__((target("avx512f"))) static int planes_avx512_fast(const hesse_planes *pl, const float *restrict x,
                                                                 float *restrict xq) {
  const long Hq = pl->Hq, Wo = pl->Wo, plane = Hq * Wo, sw = pl->sw;
  if (sw > 2 || Wo > 64 * 16 || pl->kw > FAST_KW) return 0;
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  /* per tap column and 16 output columns t..t+15: which are inside, as masks over the source elements they read */
  __mmask16 lo[FAST_KW][64], hi[FAST_KW][64];
  long x0[FAST_KW], x1[FAST_KW];
  for (long jj = 0; jj < pl->kw; jj++) {
    valid_range(Wo, pl->W, sw, pl->pw, jj, &x0[jj], &x1[jj]);
    for (long t = 0, v = 0; t < Wo; t += 16, v++) {
      unsigned m = 0;
      for (long u = 0; u < 16; u++)
        if (t + u >= x0[jj] && t + u < x1[jj]) m |= 1u << u;
      if (sw == 1) {
        lo[jj][v] = (__mmask16)m;
      } else {
        /* output u reads source 2u: bit 2u of the 32 source elements, split over two loads */
        unsigned a = 0, b = 0;
        for (long u = 0; u < 8; u++) a |= ((m >> u) & 1u) << (2 * u);
        for (long u = 8; u < 16; u++) b |= ((m >> u) & 1u) << (2 * (u - 8));
        lo[jj][v] = (__mmask16)a;
        hi[jj][v] = (__mmask16)b;
      }
    }
  }
  for (long c = 0; c < pl->C; c++)
    for (long jj = 0; jj < pl->kw; jj++)
      for (long a = 0; a < pl->na; a++) {
        float *dst = xq + ((c * pl->kw + jj) * pl->na + a) * plane;
        const __mmask16 *mlo = lo[jj], *mhi = hi[jj];
        for (long yy = 0; yy < Hq; yy++) {
          const long sy = yy * pl->sh + a - pl->ph;
          float *row = dst + yy * Wo;
          if (sy < 0 || sy >= pl->H || x1[jj] == x0[jj]) {
            for (long t = 0; t < Wo; t += 16) _mm512_storeu_ps(row + t, _mm512_setzero_ps());
            continue;
          }
          const float *src = x + (c * pl->H + sy) * pl->W + jj - pl->pw; /* output t reads src[t*sw] */
          if (sw == 1) {
            for (long t = 0, v = 0; t < Wo; t += 16, v++) _mm512_storeu_ps(row + t, _mm512_maskz_loadu_ps(mlo[v], src + t));
          } else {
            for (long t = 0, v = 0; t < Wo; t += 16, v++) {
              const __m512 p = _mm512_maskz_loadu_ps(mlo[v], src + 2 * t), q = _mm512_maskz_loadu_ps(mhi[v], src + 2 * t + 16);
              _mm512_storeu_ps(row + t, _mm512_permutex2var_ps(p, evens, q));
            }
          }
        }
      }
  return 1;
}
#endif

/*
 * The AVX2 planes for stride 1 and 2, the same scheme with masked loads: per tap column and 8 output columns a mask of the
 * source elements inside the image, so a row is a few loads and whole-vector stores that may run
 * into the next row. The planes are written in address order, so that row is always written
 * after (the buffer's slack covers the last plane's).
 */
#define FAST_VECS 32
__attribute__((target("avx2"))) static int planes_avx2_fast(const hesse_planes *pl, const float *restrict x,
                                                            float *restrict xq) {
  const long Hq = pl->Hq, Wo = pl->Wo, plane = Hq * Wo, sw = pl->sw;
  /* one padded copy per channel (kw 1, stride 1: the rows mode) is long rows, which plain vector copies do faster */
  if (sw > 2 || (sw == 1 && pl->kw == 1) || Wo > FAST_VECS * 8 || pl->kw > FAST_KW) return 0;
  __m256i lo[FAST_KW][FAST_VECS], hi[FAST_KW][FAST_VECS];
  long x0[FAST_KW], x1[FAST_KW];
  for (long jj = 0; jj < pl->kw; jj++) {
    valid_range(Wo, pl->W, sw, pl->pw, jj, &x0[jj], &x1[jj]);
    /*
     * lane l of a load covers source element l (stride 1); at stride 2 the pair of loads at 0 and 7
     * that evens_of_pair_avx2 takes: even lane l of the first is output l/2, odd lane l of the
     * second output 4 + (l-1)/2
     */
    for (long t = 0, v = 0; t < Wo; t += 8, v++) {
      int a[8], b[8];
      for (long l = 0; l < 8; l++) {
        const long u = sw == 1 ? t + l : t + l / 2, w = t + 4 + (l - 1) / 2;
        a[l] = (sw == 1 || l % 2 == 0) && u >= x0[jj] && u < x1[jj] ? -1 : 0;
        b[l] = sw == 2 && l % 2 == 1 && w >= x0[jj] && w < x1[jj] ? -1 : 0;
      }
      lo[jj][v] = _mm256_setr_epi32(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
      hi[jj][v] = _mm256_setr_epi32(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
    }
  }
  for (long c = 0; c < pl->C; c++)
    for (long jj = 0; jj < pl->kw; jj++)
      for (long a = 0; a < pl->na; a++) {
        float *dst = xq + ((c * pl->kw + jj) * pl->na + a) * plane;
        const __m256i *mlo = lo[jj], *mhi = hi[jj];
        for (long yy = 0; yy < Hq; yy++) {
          const long sy = yy * pl->sh + a - pl->ph;
          float *row = dst + yy * Wo;
          if (sy < 0 || sy >= pl->H || x1[jj] == x0[jj]) {
            for (long t = 0; t < Wo; t += 8) _mm256_storeu_ps(row + t, _mm256_setzero_ps());
            continue;
          }
          const float *src = x + (c * pl->H + sy) * pl->W + jj - pl->pw; /* output t reads src[t*sw] */
          if (sw == 1) {
            for (long t = 0, v = 0; t < Wo; t += 8, v++) _mm256_storeu_ps(row + t, _mm256_maskload_ps(src + t, mlo[v]));
          } else {
            for (long t = 0, v = 0; t < Wo; t += 8, v++)
              _mm256_storeu_ps(row + t, evens_of_pair_avx2(_mm256_maskload_ps(src + 2 * t, mlo[v]), _mm256_maskload_ps(src + 2 * t + 7, mhi[v])));
          }
        }
      }
  return 1;
}

void hesse_fill_planes(const hesse_planes *pl, const float *x, float *xq) {
#if defined(__x86_64__)
  const hesse_isa isa = hesse_isa_get();
  if (isa == HESSE_ISA_AVX512) {
    if (!planes_avx512_fast(pl, x, xq)) planes_avx512(pl, x, xq);
    return;
  }
  if (isa == HESSE_ISA_AVX2) {
    if (!planes_avx2_fast(pl, x, xq)) planes_avx2(pl, x, xq);
    return;
  }
#endif
  planes_plain(pl, x, xq);
}

void hesse_im2col_block(const float *x, const hesse_geom *g, long k0, long k1, long p0, long p1, float *dst, long ld) {
  if (k1 <= k0 || p1 <= p0) return;
#if defined(__x86_64__)
  const hesse_isa isa = hesse_isa_get();
  if (isa == HESSE_ISA_AVX512) {
    im2col_avx512(x, g, k0, k1, p0, p1, dst, ld);
    return;
  }
  if (isa == HESSE_ISA_AVX2) {
    im2col_avx2(x, g, k0, k1, p0, p1, dst, ld);
    return;
  }
#endif
  im2col_plain(x, g, k0, k1, p0, p1, dst, ld);
}

void hesse_col2im_block(const float *src, long ld, const hesse_geom *g, long k0, long k1, long p0, long p1, float *x) {
  if (k1 <= k0 || p1 <= p0) return;
#if defined(__x86_64__)
  const hesse_isa isa = hesse_isa_get();
  if (isa == HESSE_ISA_AVX512) {
    col2im_avx512(src, ld, g, k0, k1, p0, p1, x);
    return;
  }
  if (isa == HESSE_ISA_AVX2) {
    col2im_avx2(src, ld, g, k0, k1, p0, p1, x);
    return;
  }
#endif
  col2im_plain(src, ld, g, k0, k1, p0, p1, x);
}

void hesse_im2col(const float *x, const hesse_geom *g, float *col, long ldcol) {
  hesse_im2col_block(x, g, 0, g->C * g->kh * g->kw, 0, g->Ho * g->Wo, col, ldcol);
}

void hesse_col2im(const float *col, const hesse_geom *g, float *x, long ldcol) {
  hesse_col2im_block(col, ldcol, g, 0, g->C * g->kh * g->kw, 0, g->Ho * g->Wo, x);
}
