/* A measured ceiling for the GEMM: how fast one thread runs independent FMAs. */
#ifndef HESSE_PEAK_H
#define HESSE_PEAK_H

#include "config.h"

double hesse_fma_peak_gflops(hesse_isa isa, double seconds);

#endif
