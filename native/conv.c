#include "conv.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gemm.h"
#include "microkernel.h"
#include "pack.h"
#include "threads.h"

/*
 * The batch is cut into chunks of images that the threads claim one at a time, each thread with
 * its own work buffers. Within an image, one of three strategies:
 *
 * planes (own kernel): the image is copied once into kw x min(sh, kh) planes per channel, plane
 * (c, j, a) holding the padded rows a, a + sh, a + 2sh, ... at columns j, j + sw, j + 2sw, ... for
 * the Wo output columns: row (c, i, j) of the column matrix is then the contiguous stretch of Ho*Wo
 * values at row i / sh of plane (c, j, i mod sh). The micro-kernel reads those B rows in place, so
 * no column matrix is stored, no column is computed and dropped, and for stride 1 with Wo a
 * multiple of 16 every row starts aligned. The input gradient of a stride-1 convolution is itself
 * a convolution (of gy, with the kernel flipped and channels swapped), so it takes the same path.
 *
 * pixels (own kernel; weight gradients with at least 16 input channels): the image is transposed
 * once into a zero-padded pixel-major copy (Hp x Wp x C) and gy into MR-row panels; then for each
 * kernel tap the weight gradient of that tap, O x C, is a product over the output pixels whose B
 * rows (C values) are read in place at a fixed shift. No transposition inside the product, and the
 * micro-kernel's accumulators run over a whole strip of pixels.
 *
 * unfold (own kernel; input gradients of strided convolutions): B panels are unfolded straight
 * from the image in small blocks and C tiles of the input gradient are folded straight back, so no
 * column matrix is stored.
 *
 * blas (OpenBLAS): it packs its own panels, so hesse unfolds a chunk of images into an explicit
 * column matrix and lets cblas_sgemm multiply it; several images side by side make the product
 * wide even where one image has only 64 output pixels.
 */

/* The explicit column matrix of a chunk: about L2-sized. */
#define COL_TARGET_FLOATS (256L * 1024L)
/* Below this many multiply-adds in the whole batch, one thread is faster than waking more. */
#define SPLIT_MIN_MACS (1L << 20)
/*
 * The weight gradient sums per chunk of images, then the chunks in order: a fixed number of chunks
 * makes the result independent of the thread count (and of which thread ran what).
 */
#define WEIGHT_CHUNKS 8

typedef enum { FORWARD, BACKWARD_INPUT, BACKWARD_WEIGHT } conv_kind;
typedef enum { PLANES, PIXELS, UNFOLD, BLAS } conv_strategy;

/* A convolution over shifted planes: the forward pass, or a stride-1 input gradient recast as one. */
typedef struct {
  long Cin, Hin, Win, ph, pw; /* the image it reads and its padding (negative: cropping) */
  long kh, kw, sh, sw;
  long na;              /* row phases a kernel tap can land in: min(sh, kh) */
  long Hq;              /* rows of one plane: Ho + (kh - 1) / sh */
  long Ho, Wo, P, Cout; /* output size; P = Ho*Wo */
  long *boff;           /* for each column-matrix row (c, i, j): where it starts in the planes */
  /*
   * rows: stride 1 and output rows a whole number of strips wide. Then a strip never leaves its
   * output row, and one zero-padded copy of each channel (Hq x Wq, Wq = Wo + kw - 1) serves every
   * tap at a shift: a third of the copying of kw planes, at the cost of unaligned B rows. Output
   * rows half a strip wide (and an even number of them) serve too: a strip is two output rows,
   * and its B row the two image rows' stretches, Wq apart (the micro-kernel's `half`).
   */
  int rows;
  long Wq;
  long half; /* where the second half of a B row starts, from its first: NR/2, or Wq for rows half a strip wide */
} planes_geom;

typedef struct {
  conv_kind kind;
  conv_strategy strategy;
  const float *in;  /* x (forward, weight) or gy (input) */
  const float *in2; /* w (forward, input) or x (weight) */
  float *out;       /* y, gx or gw */
  /*
   * A second pair of operands (forward and stride-1 input gradient over planes only), or null:
   * out (+)= the convolution of (in, in2) + that of (in_b, in2_b), a jvp's two terms in one pass
   * over the output. Per output tile the second pair's blocks follow the first's, the order of a
   * second call that accumulates, so the bits are those of two calls.
   */
  const float *in_b, *in2_b;
  long N, O, K, P, in_size, out_size;
  hesse_geom g;
  int nchunks, threads, gemm_threads;
  int accumulate; /* out += the result instead of out = */
  /* own kernel */
  const hesse_ukernel *uk;
  float *apack; /* packed weights, blocks of kc along the GEMM's inner dimension */
  float *apack_b; /* in2_b packed alike */
  long kc;      /* that blocking */
  long mpad;    /* GEMM rows rounded up to whole MR panels */
  planes_geom pg;
  /* pixels (weight gradient): the padded pixel-major image is Hp x Wp x C */
  long Hp, Wp;
  long *pixoff; /* for each output pixel: where its top-left tap starts in that image */
  /* OpenBLAS: images per GEMM */
  long nb;
  float **partial; /* weight gradient: one O x K sum per chunk; chunk 0's is gw itself */
  int failed;
} conv_job;

static long min_l(long a, long b) { return a < b ? a : b; }
static long max_l(long a, long b) { return a > b ? a : b; }
static long ceil_div(long a, long b) { return (a + b - 1) / b; }
static long round_up(long a, long b) { return ceil_div(a, b) * b; }

static void zero_columns(float *panel, long rows, int nr, int from) {
  for (long k = 0; k < rows; k++)
    for (int j = from; j < nr; j++) panel[k * nr + j] = 0.0f;
}

/* ---- planes ---- */

/* Floats the planes need, with a strip's worth past the end for the last rows' full-width reads. */
static long planes_used(const planes_geom *pg) {
  return pg->rows ? pg->Cin * pg->Hq * pg->Wq : pg->Cin * pg->kw * pg->na * pg->Hq * pg->Wo;
}

static long planes_size(const conv_job *j) { return planes_used(&j->pg) + j->uk->nr + 16; }

static void fill_planes(const planes_geom *pg, const float *x, float *xq, long size) {
  /* in rows mode the one padded copy is the plane of tap column 0 widened to Wq */
  const hesse_planes pl = pg->rows ? (hesse_planes){pg->Cin, pg->Hin, pg->Win, pg->ph, pg->pw, pg->kh, 1, 1, 1, 1, pg->Hq, pg->Wq}
                                   : (hesse_planes){pg->Cin, pg->Hin, pg->Win, pg->ph, pg->pw, pg->kh, pg->kw, pg->sh, pg->sw, pg->na, pg->Hq, pg->Wo};
  hesse_fill_planes(&pl, x, xq);
  const long used = planes_used(pg);
  memset(xq + used, 0, (size_t)(size - used) * sizeof(float));
}

/*
 * Asks for part `s` of `parts` of the next image's input, so that its planes are filled from cache:
 * read in one go right before the fill, it costs as much as the product on a busy memory bus.
 */
static void prefetch_part(const float *next, long n, long s, long parts) {
  if (!next) return;
  const long lines = (n * (long)sizeof(float) + 63) / 64, per = (lines + parts - 1) / parts;
  const char *p = (const char *)next;
  for (long l = s * per; l < (s + 1) * per && l < lines; l++) __builtin_prefetch(p + 64 * l, 0, 2);
}

/*
 * y (Cout x P) = W * col(x), with W packed in j->apack and the B rows read from the planes; with a
 * second pair, + W_b * col(x_b) (x_b's planes in work slot 1).
 */
static int planes_forward(const conv_job *j, const float *x, const float *x_b, float *y, const float *next,
                          const float *next_b, hesse_ws *ws) {
  const planes_geom *pg = &j->pg;
  const hesse_ukernel *uk = j->uk;
  const int MR = uk->mr, NR = uk->nr;
  const long P = pg->P, K = j->K;
  const long size = planes_size(j);
  const int halves = x_b ? 2 : 1;
  float *xp[2] = {hesse_ws_get(ws, 0, size), x_b ? hesse_ws_get(ws, 1, size) : 0};
  const float *apack[2] = {j->apack, j->apack_b};
  const float *nexts[2] = {next, next_b};
  for (int h = 0; h < halves; h++) {
    if (!xp[h]) return -1;
    fill_planes(pg, h ? x_b : x, xp[h], size);
  }
  const long strips = (P + NR - 1) / NR, next_len = pg->Cin * pg->Hin * pg->Win;
  for (long q0 = 0; q0 < P; q0 += NR) {
    const int nr = (int)min_l(NR, P - q0);
    /* where the strip's B rows start: in the planes, pixel q0; in rows mode, its row and column in the padded copy */
    const long b0 = pg->rows ? (q0 / pg->Wo) * pg->Wq + q0 % pg->Wo : q0;
    for (int h = 0; h < halves; h++) {
      prefetch_part(nexts[h], next_len, q0 / NR, strips);
      for (long pc = 0; pc < K; pc += j->kc) {
        const long kc = min_l(j->kc, K - pc);
        const float *ap = apack[h] + pc * j->mpad;
        const float beta = h == 0 && pc == 0 && !j->accumulate ? 0.0f : 1.0f;
        for (long ir = 0; ir < pg->Cout; ir += MR) {
          const int m = (int)min_l(MR, pg->Cout - ir);
          hesse_ukernel_indirect_for(uk, m)(kc, ap + ir * kc, xp[h] + b0, pg->boff + pc, pg->half, y + ir * P + q0, P, beta, m, nr);
        }
      }
    }
  }
  return 0;
}

/* gw (O x K) (+)= gy (O x P) * col(x)^T, the col rows transposed into panels from the planes. */
static int planes_backward_weight(const conv_job *j, const float *gy, const float *x, float *gw, int first, hesse_ws *ws) {
  const planes_geom *pg = &j->pg;
  const hesse_ukernel *uk = j->uk;
  const int MR = uk->mr, NR = uk->nr;
  const long P = pg->P, K = j->K, O = j->O;
  const long size = planes_size(j);
  float *xp = hesse_ws_get(ws, 0, size);
  float *ap = hesse_ws_get(ws, 2, j->mpad * j->kc);
  float *bp = hesse_ws_get(ws, 3, (long)NR * j->kc);
  if (!xp || !ap || !bp) return -1;
  fill_planes(pg, x, xp, size);
  const float *rows[32];
  for (long q0 = 0; q0 < P; q0 += j->kc) {
    const long kc = min_l(j->kc, P - q0);
    const float beta = first && q0 == 0 ? 0.0f : 1.0f;
    hesse_pack_a(0, gy, P, 0, O, q0, kc, 1.0f, MR, ap);
    for (long jr = 0; jr < K; jr += NR) {
      const int nr = (int)min_l(NR, K - jr);
      for (int r = 0; r < nr; r++) rows[r] = xp + pg->boff[jr + r] + q0;
      hesse_transpose_rows(rows, nr, kc, bp, NR);
      if (nr < NR) zero_columns(bp, kc, NR, nr);
      for (long ir = 0; ir < O; ir += MR) {
        const int m = (int)min_l(MR, O - ir);
        hesse_ukernel_fn_for(uk, m)(kc, ap + ir * kc, bp, gw + ir * K + jr, K, beta, m, nr);
      }
    }
  }
  return 0;
}

/* ---- pixels ---- */

/* xT[((yy*Wp + xx)*C + c] = x[c][yy - ph][xx - pw], zero outside the image. */
static void fill_pixels(const conv_job *j, const float *x, float *xT) {
  const hesse_geom *g = &j->g;
  const long C = g->C, Wp = j->Wp, HW = g->H * g->W;
  for (long yy = 0; yy < j->Hp; yy++) {
    float *row = xT + yy * Wp * C;
    const long sy = yy - g->ph;
    if (sy < 0 || sy >= g->H) {
      memset(row, 0, (size_t)(Wp * C) * sizeof(float));
      continue;
    }
    const long left = min_l(g->pw, Wp), right = max_l(0, Wp - g->pw - g->W);
    memset(row, 0, (size_t)(left * C) * sizeof(float));
    const long w = min_l(g->W, Wp - left);
    if (w > 0) hesse_transpose(x + sy * g->W, HW, C, w, row + left * C, C);
    if (right > 0) memset(row + (left + w) * C, 0, (size_t)(right * C) * sizeof(float));
  }
}

/*
 * The weight gradient of images lo..hi-1, written to gw (O x K). Per tap (i, j) the sum runs in
 * a tap-major buffer (tap x O x C), permuted into gw's (o, c, i, j) order at the end.
 */
static int pixels_backward_weight(const conv_job *j, long lo, long hi, float *gw, hesse_ws *ws) {
  const hesse_geom *g = &j->g;
  const hesse_ukernel *uk = j->uk;
  const int MR = uk->mr, NR = uk->nr;
  const long C = g->C, O = j->O, P = j->P, khw = g->kh * g->kw;
  const long xsize = j->Hp * j->Wp * C + NR + 16;
  float *xT = hesse_ws_get(ws, 0, xsize);
  float *ap = hesse_ws_get(ws, 2, j->mpad * P);
  float *acc = hesse_ws_get(ws, 3, khw * O * C);
  if (!xT || !ap || !acc) return -1;
  memset(xT + xsize - NR - 16, 0, (size_t)(NR + 16) * sizeof(float));
  const long steps = ceil_div(P, j->kc) * khw;
  for (long n = lo; n < hi; n++) {
    const float *gy = j->in + n * j->out_size;
    /* the next image's x and gy, asked for a part at a time while this one's products run */
    const float *next_x = n + 1 < hi ? j->in2 + (n + 1) * j->in_size : 0, *next_gy = n + 1 < hi ? gy + j->out_size : 0;
    fill_pixels(j, j->in2 + n * j->in_size, xT);
    hesse_pack_a(0, gy, P, 0, O, 0, P, 1.0f, MR, ap);
    for (long p0 = 0, step = 0; p0 < P; p0 += j->kc) {
      const long kc = min_l(j->kc, P - p0);
      const float beta = n == lo && p0 == 0 ? 0.0f : 1.0f;
      for (long t = 0; t < khw; t++, step++) {
        prefetch_part(next_x, j->in_size, step, steps);
        prefetch_part(next_gy, j->out_size, step, steps);
        const float *base = xT + ((t / g->kw) * j->Wp + t % g->kw) * C;
        float *ct = acc + t * O * C;
        for (long c0 = 0; c0 < C; c0 += NR)
          for (long ir = 0; ir < O; ir += MR) {
            const int m = (int)min_l(MR, O - ir);
            hesse_ukernel_indirect_for(uk, m)(kc, ap + ir * P + p0 * MR, base + c0, j->pixoff + p0, NR / 2, ct + ir * C + c0, C, beta,
                                              m, (int)min_l(NR, C - c0));
          }
      }
    }
  }
  for (long o = 0; o < O; o++)
    for (long c = 0; c < C; c++)
      for (long t = 0; t < khw; t++) gw[(o * C + c) * khw + t] = acc[(t * O + o) * C + c];
  return 0;
}

/* ---- unfold ---- */

/* gx_n = fold(W^T (K x O) * gy_n): each MR x NR tile of the product is folded into gx_n at once. */
static int unfold_backward_input(const conv_job *j, const float *gy, float *gx, hesse_ws *ws) {
  const hesse_ukernel *uk = j->uk;
  const int MR = uk->mr, NR = uk->nr;
  float *bp = hesse_ws_get(ws, 0, j->O * NR);
  float tile[32 * 32] __attribute__((aligned(64)));
  if (!bp) return -1;
  if (!j->accumulate) memset(gx, 0, (size_t)j->in_size * sizeof(float));
  for (long p0 = 0; p0 < j->P; p0 += NR) {
    const int nr = (int)min_l(NR, j->P - p0);
    hesse_pack_b(0, gy, j->P, 0, j->O, p0, nr, NR, bp);
    for (long ir = 0; ir < j->K; ir += MR) {
      const int m = (int)min_l(MR, j->K - ir);
      /* the whole tile (or the whole tail tile) into the buffer: rows past m are padding, never folded */
      const int mt = m <= uk->tail_mr ? uk->tail_mr : MR;
      for (long pc = 0; pc < j->O; pc += j->kc) {
        const long kc = min_l(j->kc, j->O - pc);
        hesse_ukernel_fn_for(uk, mt)(kc, j->apack + pc * j->mpad + ir * kc, bp + pc * NR, tile, NR, pc == 0 ? 0.0f : 1.0f, mt, NR);
      }
      hesse_col2im_block(tile, NR, &j->g, ir, ir + m, p0, p0 + nr, gx);
    }
  }
  return 0;
}

/* ---- blas ---- */

static void blas_gemm(const conv_job *j, int tA, int tB, long M, long N, long K, const float *A, long lda, const float *B,
                      long ldb, float beta, float *C, long ldc) {
  const hesse_gemm_args a = {tA, tB, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc};
  hesse_ws none = {{0}, {0}}; /* OpenBLAS needs no packing buffers from us */
  if (j->gemm_threads <= 1) hesse_sgemm_serial(&a, HESSE_GEMM_BLAS, &none);
  else hesse_sgemm(&a, j->gemm_threads);
}

/* gy of nbc images, rearranged from nbc x O x P to O x (nbc*P). */
static void gather_gy(const conv_job *j, const float *gy, long nbc, float *dst) {
  const long P = j->P, ld = nbc * P;
  for (long b = 0; b < nbc; b++)
    for (long o = 0; o < j->O; o++) memcpy(dst + o * ld + b * P, gy + b * j->out_size + o * P, (size_t)P * sizeof(float));
}

/* Images n0..n0+nbc-1 through an explicit column matrix and cblas_sgemm. */
static int blas_chunk(const conv_job *j, long n0, long nbc, int first, float *gw, hesse_ws *ws) {
  const long K = j->K, P = j->P, O = j->O, ld = nbc * P;
  float *col = hesse_ws_get(ws, 0, K * ld);
  float *buf = hesse_ws_get(ws, 1, O * ld);
  if (!col || !buf) return -1;
  switch (j->kind) {
    case FORWARD: {
      const float *x = j->in + n0 * j->in_size;
      float *y = j->out + n0 * j->out_size;
      for (long b = 0; b < nbc; b++) hesse_im2col(x + b * j->in_size, &j->g, col + b * P, ld);
      blas_gemm(j, 0, 0, O, ld, K, j->in2, K, col, ld, nbc == 1 && j->accumulate ? 1.0f : 0.0f, nbc == 1 ? y : buf, ld);
      if (nbc > 1)
        for (long b = 0; b < nbc; b++)
          for (long o = 0; o < O; o++) {
            float *dst = y + b * j->out_size + o * P;
            const float *src = buf + o * ld + b * P;
            if (j->accumulate)
              for (long p = 0; p < P; p++) dst[p] += src[p];
            else
              memcpy(dst, src, (size_t)P * sizeof(float));
          }
      break;
    }
    case BACKWARD_INPUT: {
      const float *gy = j->in + n0 * j->out_size;
      float *gx = j->out + n0 * j->in_size;
      if (nbc > 1) gather_gy(j, gy, nbc, buf);
      blas_gemm(j, 1, 0, K, ld, O, j->in2, K, nbc > 1 ? buf : gy, ld, 0.0f, col, ld);
      if (!j->accumulate) memset(gx, 0, (size_t)(nbc * j->in_size) * sizeof(float));
      for (long b = 0; b < nbc; b++) hesse_col2im(col + b * P, &j->g, gx + b * j->in_size, ld);
      break;
    }
    case BACKWARD_WEIGHT: {
      const float *gy = j->in + n0 * j->out_size;
      const float *x = j->in2 + n0 * j->in_size;
      if (nbc > 1) gather_gy(j, gy, nbc, buf);
      for (long b = 0; b < nbc; b++) hesse_im2col(x + b * j->in_size, &j->g, col + b * P, ld);
      blas_gemm(j, 0, 1, O, K, ld, nbc > 1 ? buf : gy, ld, col, ld, first ? 0.0f : 1.0f, gw, K);
      break;
    }
  }
  return 0;
}

/* ---- driver ---- */

static int one_image(const conv_job *j, long n, int last, int first, float *gw, hesse_ws *ws) {
  const long stride = j->kind == FORWARD ? j->in_size : j->out_size;
  const float *gy_or_x = j->in + n * stride, *next = last ? 0 : gy_or_x + stride;
  const float *second = j->in_b ? j->in_b + n * stride : 0, *next_second = second && !last ? second + stride : 0;
  switch (j->kind) {
    case FORWARD:
      return planes_forward(j, gy_or_x, second, j->out + n * j->out_size, next, next_second, ws);
    case BACKWARD_INPUT:
      return j->strategy == PLANES ? planes_forward(j, gy_or_x, second, j->out + n * j->in_size, next, next_second, ws)
                                   : unfold_backward_input(j, gy_or_x, j->out + n * j->in_size, ws);
    default:
      return planes_backward_weight(j, gy_or_x, j->in2 + n * j->in_size, gw, first, ws);
  }
}

/* Chunk c of the batch: a fixed range of images (for the weight gradient, with its own partial sum). */
static void run_chunk(void *ctx, int c, int nchunks) {
  conv_job *j = (conv_job *)ctx;
  const int by_nb = j->strategy == BLAS && j->kind != BACKWARD_WEIGHT;
  const long lo = by_nb ? c * j->nb : j->N * c / nchunks;
  const long hi = by_nb ? min_l(j->N, lo + j->nb) : j->N * (c + 1) / nchunks;
  float *gw = j->kind == BACKWARD_WEIGHT ? j->partial[c] : 0;
  if (j->kind == BACKWARD_WEIGHT && !gw) {
    j->failed = 1;
    return;
  }
  if (gw && hi <= lo) memset(gw, 0, (size_t)(j->O * j->K) * sizeof(float));
  hesse_ws *ws = hesse_thread_ws(HESSE_WS_CONV);
  int rc = ws ? 0 : -1;
  if (j->strategy == BLAS) {
    for (long n0 = lo; n0 < hi && rc == 0; n0 += j->nb) rc = blas_chunk(j, n0, min_l(j->nb, hi - n0), n0 == lo, gw, ws);
  } else if (j->strategy == PIXELS) {
    if (rc == 0 && hi > lo) rc = pixels_backward_weight(j, lo, hi, gw, ws);
  } else {
    for (long n = lo; n < hi && rc == 0; n++) rc = one_image(j, n, n == hi - 1, n == lo, gw, ws);
  }
  if (rc != 0) j->failed = 1;
}

/*
 * Packs the weights once for all threads. Forward: W (O x K). Unfolded input gradient: W^T. Padded
 * input gradient: the flipped kernel with channels swapped, W'[c][(o*kh + i)*kw + j] =
 * W[o][(c*kh + kh-1-i)*kw + kw-1-j], as the forward weights of the recast convolution.
 */
static int pack_weights(conv_job *j, const float *w, long M, long inner, float **dst) {
  float *flipped = 0;
  int trans = 0;
  long ld = j->K;
  if (j->kind == BACKWARD_INPUT) {
    if (j->strategy == PLANES) {
      const hesse_geom *g = &j->g;
      const long khw = g->kh * g->kw;
      flipped = malloc((size_t)(g->C * j->O * khw) * sizeof(float));
      if (!flipped) return -1;
      for (long c = 0; c < g->C; c++)
        for (long o = 0; o < j->O; o++)
          for (long t = 0; t < khw; t++) flipped[(c * j->O + o) * khw + t] = w[(o * g->C + c) * khw + (khw - 1 - t)];
      w = flipped;
      ld = j->O * khw;
    } else {
      trans = 1;
    }
  }
  float *packed = *dst = malloc((size_t)(j->mpad * inner) * sizeof(float));
  if (packed)
    for (long pc = 0; pc < inner; pc += j->kc)
      hesse_pack_a(trans, w, ld, 0, M, pc, min_l(j->kc, inner - pc), 1.0f, j->uk->mr, packed + pc * j->mpad);
  free(flipped);
  return packed ? 0 : -1;
}

/*
 * How a convolution runs: OpenBLAS over explicit columns; with the own kernel, weight gradients of
 * at least 16 input channels over pixels, the input gradient of a strided convolution by
 * unfolding, and everything else over planes.
 */
static conv_strategy strategy_for(conv_kind kind, const hesse_geom *g, hesse_gemm_backend backend) {
  if (backend != HESSE_GEMM_OWN) return BLAS;
  if (kind == BACKWARD_WEIGHT) return g->C >= 16 ? PIXELS : PLANES;
  return kind == BACKWARD_INPUT && (g->sh != 1 || g->sw != 1) ? UNFOLD : PLANES;
}

static int setup_own(conv_job *j) {
  const hesse_geom *g = &j->g;
  const long O = j->O;
  const int recast = j->kind == BACKWARD_INPUT;
  planes_geom *pg = &j->pg;
  if (recast) {
    *pg = (planes_geom){O, g->Ho, g->Wo, g->kh - 1 - g->ph, g->kw - 1 - g->pw, g->kh, g->kw, 1, 1, 1, 0, g->H, g->W, 0, g->C, 0};
  } else {
    *pg = (planes_geom){g->C, g->H, g->W, g->ph, g->pw, g->kh, g->kw, g->sh, g->sw, min_l(g->sh, g->kh), 0, g->Ho, g->Wo, 0, O, 0};
  }
  pg->Hq = pg->Ho + (pg->kh - 1) / pg->sh;
  pg->P = pg->Ho * pg->Wo;
  if (j->strategy == PIXELS) {
    j->Hp = (g->Ho - 1) * g->sh + g->kh;
    j->Wp = (g->Wo - 1) * g->sw + g->kw;
    j->pixoff = malloc((size_t)j->P * sizeof(long));
    if (!j->pixoff) return -1;
    for (long oy = 0, p = 0; oy < g->Ho; oy++)
      for (long ox = 0; ox < g->Wo; ox++) j->pixoff[p++] = (oy * g->sh * j->Wp + ox * g->sw) * g->C;
    j->uk = g->C <= 16 ? hesse_ukernel_narrow(hesse_isa_get(), O) : hesse_ukernel_for(hesse_isa_get(), O);
    j->mpad = round_up(O, j->uk->mr);
    j->kc = ceil_div(j->P, ceil_div(j->P, j->uk->kc));
    return 0;
  }
  const int planes = j->strategy == PLANES;
  long M, inner;
  if (planes) {
    const long Kp = pg->Cin * g->kh * g->kw; /* equals K, or O*kh*kw for the input gradient */
    pg->boff = malloc((size_t)Kp * sizeof(long));
    if (!pg->boff) return -1;
    M = j->kind == BACKWARD_WEIGHT ? O : pg->Cout;
    j->uk = hesse_ukernel_for(hesse_isa_get(), M);
    pg->Wq = pg->Wo + g->kw - 1;
    const long nr = j->uk->nr;
    const int split = 2 * pg->Wo == nr && pg->Ho % 2 == 0;
    pg->rows = j->kind != BACKWARD_WEIGHT && pg->sh == 1 && pg->sw == 1 && (pg->Wo % nr == 0 || split) && hesse_conv_rows_get();
    pg->half = pg->rows && split ? pg->Wq : nr / 2;
    const long plane = pg->Hq * pg->Wo;
    for (long c = 0, k = 0; c < pg->Cin; c++)
      for (long i = 0; i < g->kh; i++)
        for (long jj = 0; jj < g->kw; jj++)
          pg->boff[k++] = pg->rows ? (c * pg->Hq + i) * pg->Wq + jj
                                   : ((c * g->kw + jj) * pg->na + i % pg->sh) * plane + (i / pg->sh) * pg->Wo;
    if (recast) j->K = Kp; /* the recast product's inner dimension */
    M = j->kind == BACKWARD_WEIGHT ? O : pg->Cout;
    inner = j->kind == BACKWARD_WEIGHT ? pg->P : Kp;
  } else {
    M = j->kind == BACKWARD_INPUT ? j->K : O;
    inner = j->kind == FORWARD ? j->K : j->kind == BACKWARD_INPUT ? O : j->P;
  }
  j->uk = hesse_ukernel_for(hesse_isa_get(), M);
  j->mpad = round_up(M, j->uk->mr);
  j->kc = ceil_div(inner, ceil_div(inner, j->uk->kc));
  if (j->kind == BACKWARD_WEIGHT) return 0;
  if (pack_weights(j, j->in2, M, inner, &j->apack) != 0) return -1;
  return j->in2_b ? pack_weights(j, j->in2_b, M, inner, &j->apack_b) : 0;
}

static int run(conv_kind kind, const float *in, const float *in2, const float *in_b, const float *in2_b, float *out, long N,
               long O, const hesse_geom *g, int accumulate) {
  const hesse_gemm_backend backend = hesse_gemm_backend_get();
  const conv_strategy strategy = strategy_for(kind, g, backend);
  /* two operand pairs in one pass over planes; on any other path, the second as a call that accumulates */
  if (in_b && strategy != PLANES) {
    const int rc = run(kind, in, in2, 0, 0, out, N, O, g, accumulate);
    return rc != 0 ? rc : run(kind, in_b, in2_b, 0, 0, out, N, O, g, 1);
  }
  conv_job j;
  memset(&j, 0, sizeof j);
  j.kind = kind;
  j.accumulate = accumulate;
  j.in = in;
  j.in2 = in2;
  j.in_b = in_b;
  j.in2_b = in2_b;
  j.out = out;
  j.N = N;
  j.O = O;
  j.g = *g;
  j.K = g->C * g->kh * g->kw;
  j.P = g->Ho * g->Wo;
  j.in_size = g->C * g->H * g->W;
  j.out_size = O * j.P;
  j.strategy = strategy;
  const int threads = hesse_threads_get();
  const double macs = (double)N * (double)O * (double)j.K * (double)j.P;
  j.threads = macs >= (double)SPLIT_MIN_MACS ? threads : 1;
  j.nchunks = kind == BACKWARD_WEIGHT ? (int)min_l(N, WEIGHT_CHUNKS) : (int)min_l(N, 4L * j.threads);
  if (j.nchunks < 1) j.nchunks = 1;
  /* one image alone: the OpenBLAS strategy can still split its GEMM */
  j.gemm_threads = j.nchunks == 1 ? j.threads : 1;

  if (N == 0) {
    if (kind == BACKWARD_WEIGHT && !accumulate) memset(out, 0, (size_t)(O * j.K) * sizeof(float));
    return 0;
  }
  int rc = 0;
  if (strategy != BLAS) {
    rc = setup_own(&j);
  } else {
    /* chunks of nb images whatever the thread count, so that OpenBLAS sees the same products */
    j.nb = min_l(N, max_l(1, COL_TARGET_FLOATS / (j.K * j.P)));
    if (kind != BACKWARD_WEIGHT) j.nchunks = (int)ceil_div(N, j.nb);
    j.gemm_threads = j.nchunks == 1 ? j.threads : 1;
  }
  if (rc == 0 && kind == BACKWARD_WEIGHT) {
    j.partial = calloc((size_t)j.nchunks, sizeof(float *));
    if (!j.partial) rc = -1;
    else {
      /* accumulating, every chunk's sum is added to out in order; otherwise chunk 0 writes out itself */
      j.partial[0] = accumulate ? malloc((size_t)(O * j.K) * sizeof(float)) : out;
      for (int p = 1; p < j.nchunks; p++) j.partial[p] = malloc((size_t)(O * j.K) * sizeof(float));
    }
  }
  if (rc == 0) hesse_parallel(j.nchunks, j.threads, run_chunk, &j);

  if (j.partial) {
    const long n = O * j.K;
    for (int p = accumulate ? 0 : 1; p < j.nchunks; p++) {
      if (j.partial[p] && rc == 0 && !j.failed)
        for (long i = 0; i < n; i++) out[i] += j.partial[p][i];
      free(j.partial[p]);
    }
    free(j.partial);
  }
  free(j.apack);
  free(j.apack_b);
  free(j.pg.boff);
  free(j.pixoff);
  return rc != 0 || j.failed ? -1 : 0;
}

int hesse_conv2d_forward(const float *x, const float *w, const float *x2, const float *w2, float *y, long N, long O,
                         const hesse_geom *g, int accumulate) {
  return run(FORWARD, x, w, x2, w2, y, N, O, g, accumulate);
}

int hesse_conv2d_backward_input(const float *gy, const float *w, const float *gy2, const float *w2, float *gx, long N, long O,
                                const hesse_geom *g, int accumulate) {
  return run(BACKWARD_INPUT, gy, w, gy2, w2, gx, N, O, g, accumulate);
}

int hesse_conv2d_backward_weight(const float *gy, const float *x, float *gw, long N, long O, const hesse_geom *g, int accumulate) {
  return run(BACKWARD_WEIGHT, gy, x, 0, 0, gw, N, O, g, accumulate);
}
