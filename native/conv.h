/* Batched 2-D convolution (no bias) by im2col + SGEMM, images split over threads. NCHW, weights O x (C*kh*kw). */
#ifndef HESSE_CONV_H
#define HESSE_CONV_H

#include "im2col.h"

/*
 * Each returns 0 on success and -1 when a work buffer could not be allocated. With accumulate the
 * result is added to the output instead of overwriting it. The forward and the input gradient take
 * an optional second pair (x2, w2 or gy2, w2; null for none) whose convolution is added as well: a
 * jvp's two terms, conv(dx, w) + conv(x, dw), in one pass over the output, with the bits of a
 * second call that accumulates.
 */
int hesse_conv2d_forward(const float *x, const float *w, const float *x2, const float *w2, float *y, long N, long O,
                         const hesse_geom *g, int accumulate);
int hesse_conv2d_backward_input(const float *gy, const float *w, const float *gy2, const float *w2, float *gx, long N, long O,
                                const hesse_geom *g, int accumulate);
int hesse_conv2d_backward_weight(const float *gy, const float *x, float *gw, long N, long O, const hesse_geom *g, int accumulate);

#endif
