#define _GNU_SOURCE
#include "config.h"

#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#ifdef HESSE_HAVE_OPENBLAS
#include <cblas.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#define HESSE_X86 1
#endif

/* Plain ints: the settings are written from the JS thread between calls and only read inside them. */
static hesse_gemm_backend backend = HESSE_GEMM_OWN;
static hesse_isa isa = HESSE_ISA_GENERIC;
static int threads = 1;
static int conv_rows = 1;

int hesse_cpu_count(void) {
#ifdef CPU_COUNT
  cpu_set_t set;
  /* The affinity mask, not the machine's CPU count, is what a container or taskset lets us use. */
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

hesse_isa hesse_isa_best(void) {
#if HESSE_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return HESSE_ISA_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return HESSE_ISA_AVX2;
#endif
  return HESSE_ISA_GENERIC;
}

/*
 * Activations and tangents are arrays of megabytes, allocated and freed hundreds of times per pass.
 * By default glibc serves such sizes with fresh mmaps and unmaps them on free, so every pass pays
 * a page fault per 4 KiB written (costly on a VM). Serving them from the heap and not trimming it
 * keeps the pages mapped and reused. HESSE_MALLOC_TUNING=0 leaves the allocator alone.
 */
static void tune_malloc(void) {
#if defined(__GLIBC__)
  const char *off = getenv("HESSE_MALLOC_TUNING");
  if (off && strcmp(off, "0") == 0) return;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
#endif
}

static void init_once(void) {
  tune_malloc();
  isa = hesse_isa_best();
  threads = hesse_cpu_count();
  if (threads > 64) threads = 64;
#ifdef HESSE_HAVE_OPENBLAS
  /* hesse splits work over its own threads and calls OpenBLAS from each, so OpenBLAS itself stays single-threaded. */
  openblas_set_num_threads(1);
  /* Measured on AVX2 and AVX-512 machines, the own kernel beats OpenBLAS (plain SGEMM, and far more
     on convolutions, where it never stores the im2col matrix), so OpenBLAS is the default only
     where the own kernel would be the portable C one. HESSE_GEMM=blas chooses it anyway. */
  if (isa == HESSE_ISA_GENERIC) backend = HESSE_GEMM_BLAS;
#endif
}

void hesse_config_init(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, init_once);
}

hesse_gemm_backend hesse_gemm_backend_get(void) { return backend; }

int hesse_gemm_backend_set(hesse_gemm_backend b) {
  if (b == HESSE_GEMM_BLAS && !hesse_blas_linked()) return 0;
  backend = b;
  return 1;
}

int hesse_blas_linked(void) {
#ifdef HESSE_HAVE_OPENBLAS
  return 1;
#else
  return 0;
#endif
}

const char *hesse_blas_config(void) {
#ifdef HESSE_HAVE_OPENBLAS
  return openblas_get_config();
#else
  return 0;
#endif
}

hesse_isa hesse_isa_get(void) { return isa; }

int hesse_isa_set(hesse_isa want) {
  if (want > hesse_isa_best()) return 0;
  isa = want;
  return 1;
}

const char *hesse_isa_name(hesse_isa i) {
  switch (i) {
    case HESSE_ISA_AVX512: return "avx512";
    case HESSE_ISA_AVX2: return "avx2";
    default: return "generic";
  }
}

int hesse_conv_rows_get(void) { return conv_rows; }

void hesse_conv_rows_set(int on) { conv_rows = on != 0; }

int hesse_threads_get(void) { return threads; }

void hesse_threads_set(int n) { threads = n < 1 ? 1 : (n > 64 ? 64 : n); }
