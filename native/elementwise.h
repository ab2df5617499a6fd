/* Broadcast elementwise loops: the memory-bound part of forward and tangent passes. */
#ifndef HESSE_ELEMENTWISE_H
#define HESSE_ELEMENTWISE_H

#define HESSE_EW_MAX_RANK 8

/*
 * MAX: a where a > b (or a is NaN), else b (ReLU against a 0 of stride 0); GREATER: 1 where a > b,
 * else 0; GATE: a where b > 0, else 0 (ReLU's backward: the cotangent where the input was positive).
 */
typedef enum {
  HESSE_EW_ADD = 0,
  HESSE_EW_SUB = 1,
  HESSE_EW_MUL = 2,
  HESSE_EW_DIV = 3,
  HESSE_EW_COPY = 4,
  HESSE_EW_MAX = 5,
  HESSE_EW_GREATER = 6,
  HESSE_EW_GATE = 7
} hesse_ew_kind;

/*
 * out (contiguous over shape) = a ∘ b, or += with accumulate; a and b are read with the given
 * element strides (0 along broadcast dimensions). COPY ignores b.
 */
void hesse_binary(hesse_ew_kind kind, const float *a, const float *b, float *out, int rank, const long *shape, const long *sa,
                  const long *sb, int accumulate, int threads);

/*
 * What muladd does with its result r: out = r, out += r, out = max(r, 0) as the MAX kind gives it
 * (NaN kept), or out = r where mask > 0 and +0 elsewhere, as the GATE kind gives it (ReLU's tangent).
 */
typedef enum { HESSE_MULADD_SET = 0, HESSE_MULADD_ADD = 1, HESSE_MULADD_RELU = 2, HESSE_MULADD_GATE = 3 } hesse_muladd_mode;

/*
 * out (contiguous over shape) = a·b + c·d + e (or += it, or ReLU of it, or it gated by mask, by
 * mode), c, d and e each optional (NULL: that term is absent; c and d go together), every operand
 * read with its own strides (strides[5]: the mask's, GATE only): a per-channel affine map (and the
 * ReLU after it) and its tangent (x·s + t, tx·s + x·ts + tt, and ReLU's gate) in one pass. Rounded
 * as written, (a·b + c·d) + e, with no fused multiply-add.
 */
void hesse_muladd(const float *a, const float *b, const float *c, const float *d, const float *e, const float *mask, float *out,
                  int rank, const long *shape, const long *const strides[6], hesse_muladd_mode mode, int threads);

/*
 * out[o] = Σ a·b (b NULL: Σ a) over the iteration `shape`, where o walks with strides so (0 along
 * summed dimensions); sums in double, written as float (out is overwritten, length out_len).
 * Threads split the outputs, never one output's sum, so the result does not depend on them.
 */
void hesse_reduce(const float *a, const float *b, float *out, long out_len, int rank, const long *shape, const long *sa,
                  const long *sb, const long *so, int threads);

/*
 * The cotangents of y = x·s + t over NCHW (s and t per channel), optionally followed by ReLU
 * (mask: y, the gate g·[y > 0]; NULL: none): dx = gm·s (N·C·HW), ds[c] = Σ gm·x and dt[c] = Σ gm
 * (C each), in one pass. Bitwise what binary MUL and reduce give for the same gm; the sums do not
 * depend on the thread count. Returns 0 when its scratch cannot be allocated.
 */
int hesse_affine_backward(const float *g, const float *x, const float *s, const float *mask, float *dx, float *ds, float *dt,
                          long N, long C, long HW, int threads);

/*
 * The tangent of hesse_affine_backward for a block of K tangents (the forward-mode derivative of
 * the cotangents, which the H·v replays): with gm = g gated by the mask and dgm = tg gated alike,
 * per tangent b, dgx = dgm·s + gm·ts (K·N·C·HW), dgs = Σ dgm·x + Σ gm·tx and dgt = Σ dgm (K·C
 * each). tg, tx and dgx hold K blocks of N·C·HW, ts K blocks of C; tx and ts may be NULL (a zero
 * tangent: its term is left out, not added as zeros). Bitwise what the gate, muladd and reduce
 * kernels give for the same terms (the two sums each rounded to float, then added); the sums do
 * not depend on the thread count. Returns 0 when its scratch cannot be allocated.
 */
int hesse_affine_backward_tangent(const float *g, const float *x, const float *s, const float *mask, const float *tg, const float *tx,
                                  const float *ts, float *dgx, float *dgs, float *dgt, long K, long N, long C, long HW, int threads);

#endif
