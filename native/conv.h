/* Batched 2-D convolution (no bias) by im2col + SGEMM, images split over threads. NCHW, weights O x (C*kh*kw). */
#ifndef HESSE_CONV_H
#define HESSE_CONV_H

#include "im2col.h"

/*
 * Each returns 0 on success and -1 when a work buffer could not be allocated. With accumulate the
 * result is added to the output instead of overwriting it (a jvp's second term, without a buffer).
 */
int hesse_conv2d_forward(const float *x, const float *w, float *y, long N, long O, const hesse_geom *g, int accumulate);
int hesse_conv2d_backward_input(const float *gy, const float *w, float *gx, long N, long O, const hesse_geom *g, int accumulate);
int hesse_conv2d_backward_weight(const float *gy, const float *x, float *gw, long N, long O, const hesse_geom *g, int accumulate);

#endif
