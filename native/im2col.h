/* Unfolding one image into convolution columns and folding columns back (its adjoint). */
#ifndef HESSE_IM2COL_H
#define HESSE_IM2COL_H

typedef struct {
  long C, H, W, kh, kw, sh, sw, ph, pw;
  long Ho, Wo;
} hesse_geom;

/*
 * Rows k0..k1 (row (c*kh + i)*kw + j) and output pixels p0..p1 of the column matrix into dst, row
 * stride ld. The GEMM packers call it with small blocks, so the matrix is never stored whole.
 */
void hesse_im2col_block(const float *x, const hesse_geom *g, long k0, long k1, long p0, long p1, float *dst, long ld);

/* The adjoint of hesse_im2col_block: adds each src entry into the x element it was read from. */
void hesse_col2im_block(const float *src, long ld, const hesse_geom *g, long k0, long k1, long p0, long p1, float *x);

/* The whole column matrix of one image, (C*kh*kw) x (Ho*Wo), row stride ldcol. */
void hesse_im2col(const float *x, const hesse_geom *g, float *col, long ldcol);

/* x += the fold of a whole column matrix. */
void hesse_col2im(const float *col, const hesse_geom *g, float *x, long ldcol);

/*
 * The shifted planes of one image: plane (c, j, a) of Hq x Wo holds rows a, a + sh, ... of the
 * zero-padded channel c at columns j, j + sw, ..., so row (c, i, j) of the column matrix is the
 * Ho*Wo contiguous values from row i / sh of plane (c, j, i mod sh). xq[((c*kw + j)*na + a)*Hq*Wo
 * + yy*Wo + x]; H, W, ph, pw describe the image read (padding may be negative: cropping).
 */
typedef struct {
  long C, H, W, ph, pw, kh, kw, sh, sw;
  long na; /* min(sh, kh) */
  long Hq, Wo;
} hesse_planes;

/* xq needs 16 floats of slack past the last plane (whole-vector stores). */
void hesse_fill_planes(const hesse_planes *pl, const float *x, float *xq);

#endif
