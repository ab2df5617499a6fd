#include "peak.h"

#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Twelve independent chains: more than latency x FMA ports on any current core, so throughput bound. */
#define CHAINS(F, x, y)                                                                                 \
  a0 = F(a0, x, y); a1 = F(a1, x, y); a2 = F(a2, x, y); a3 = F(a3, x, y); a4 = F(a4, x, y);           \
  a5 = F(a5, x, y); a6 = F(a6, x, y); a7 = F(a7, x, y); a8 = F(a8, x, y); a9 = F(a9, x, y);           \
  a10 = F(a10, x, y); a11 = F(a11, x, y);

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float run_avx2(long n, float s) {
  const __m256 x = _mm256_set1_ps(s), y = _mm256_set1_ps(1.0f - s);
  __m256 a0 = x, a1 = y, a2 = x, a3 = y, a4 = x, a5 = y, a6 = x, a7 = y, a8 = x, a9 = y, a10 = x, a11 = y;
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
  __m512 a0 = x, a1 = y, a2 = x, a3 = y, a4 = x, a5 = y, a6 = x, a7 = y, a8 = x, a9 = y, a10 = x, a11 = y;
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
  float a0 = x, a1 = y, a2 = x, a3 = y, a4 = x, a5 = y, a6 = x, a7 = y, a8 = x, a9 = y, a10 = x, a11 = y;
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
