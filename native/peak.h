/* A measured ceiling for the GEMM: how fast one thread runs independent FMAs. */
#ifndef HESSE_PEAK_H
#define HESSE_PEAK_H

#include "config.h"

double hesse_fma_peak_gflops(hesse_isa isa, double seconds);

/*
 * Seconds one thread takes, the median of `reps` runs (after one uncounted run), for a fixed mix
 * of the kernels a network pass is made of (convolutions forward and backward at ResNet shapes, an
 * SGEMM) with the addon's current instruction set and GEMM backend: what the kernel choice is
 * measured by. The operands are made before the timing, so only the kernels are timed. Returns a
 * negative number when its buffers could not be allocated.
 */
double hesse_time_workload(int reps);

#endif
