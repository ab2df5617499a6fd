/**
 * The compute kernels: the few loops that decide hesse's speed. Every function works in place on
 * the caller's Float32Arrays (which may be subarray views) and allocates nothing the caller sees.
 * Matrices are row-major and packed (leading dimension = number of columns).
 */

/** Geometry of one 2-D convolution on a single image (no batch). */
export interface ConvGeometry {
  /** input channels, height, width */
  C: number;
  H: number;
  W: number;
  /** kernel height and width */
  kh: number;
  kw: number;
  /** stride */
  sh: number;
  sw: number;
  /** zero padding on each side */
  ph: number;
  pw: number;
}

export function convOutputSize(g: ConvGeometry): { Ho: number; Wo: number } {
  return {
    Ho: Math.floor((g.H + 2 * g.ph - g.kh) / g.sh) + 1,
    Wo: Math.floor((g.W + 2 * g.pw - g.kw) / g.sw) + 1,
  };
}

export type KernelsName = 'native' | 'reference';

/**
 * Elementwise operations of `binary`: out = a + b, a − b, a · b, a / b, a copy of a, max(a, b)
 * (a when a is NaN, so NaN propagates through ReLU), 1 where a > b and 0 elsewhere, or a where
 * b > 0 and 0 elsewhere (gate: ReLU's backward).
 */
export const Elementwise = { Add: 0, Sub: 1, Mul: 2, Div: 3, Copy: 4, Max: 5, Greater: 6, Gate: 7 } as const;
export type Elementwise = (typeof Elementwise)[keyof typeof Elementwise];

/** What `muladd` does with its result: write it, add it to out, write its ReLU, or write it gated by a mask. */
export const Muladd = { Set: 0, Add: 1, Relu: 2, Gate: 3 } as const;
export type Muladd = (typeof Muladd)[keyof typeof Muladd];

export interface Kernels {
  readonly name: KernelsName;
  /** Human-readable detail, e.g. "native (OpenBLAS cblas_sgemm, 2 threads)". */
  readonly description: string;

  /**
   * C = alpha * op(A) * op(B) + beta * C, where op(A) is M x K and op(B) is K x N, C is M x N.
   * A is stored M x K (or K x M when transA), B is K x N (or N x K when transB).
   * With beta = 0, C's previous contents are ignored (NaN in C does not propagate).
   */
  sgemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    B: Float32Array,
    beta: number,
    C: Float32Array,
  ): void;

  /** col[(c*kh + i)*kw + j, oy*Wo + ox] = x[c, oy*sh - ph + i, ox*sw - pw + j] (zero outside). col is (C*kh*kw) x (Ho*Wo). */
  im2col(x: Float32Array, g: ConvGeometry, col: Float32Array): void;

  /** The adjoint of im2col: x[c, y, x] += every col entry that im2col would have read from there. Accumulates into x. */
  col2im(col: Float32Array, g: ConvGeometry, x: Float32Array): void;

  /**
   * Batched convolution without bias: x is N x C x H x W, w is O x (C*kh*kw), y is N x O x Ho x Wo
   * (overwritten; with `accumulate`, y += the convolution). The same flag on the two gradients.
   * With a second pair x2, w2 (both or neither, shaped as x and w), y (+)= conv(x, w) + conv(x2, w2):
   * a jvp's two terms in one pass over y, with the bits of a second call that accumulates.
   */
  conv2dForward(
    x: Float32Array,
    w: Float32Array,
    y: Float32Array,
    N: number,
    O: number,
    g: ConvGeometry,
    accumulate?: boolean,
    x2?: Float32Array,
    w2?: Float32Array,
  ): void;

  /**
   * gx (N x C x H x W, overwritten) = the gradient of sum(gy * conv(x, w)) with respect to x; with
   * a second pair gy2, w2, plus that of sum(gy2 * conv(x, w2)), as conv2dForward's.
   */
  conv2dBackwardInput(
    gy: Float32Array,
    w: Float32Array,
    gx: Float32Array,
    N: number,
    O: number,
    g: ConvGeometry,
    accumulate?: boolean,
    gy2?: Float32Array,
    w2?: Float32Array,
  ): void;

  /** gw (O x C*kh*kw, overwritten) = the gradient of sum(gy * conv(x, w)) with respect to w, summed over the batch. */
  conv2dBackwardWeight(gy: Float32Array, x: Float32Array, gw: Float32Array, N: number, O: number, g: ConvGeometry, accumulate?: boolean): void;

  /**
   * out = a ∘ b elementwise over an iteration of `rank` dimensions (or out += a ∘ b with
   * `accumulate`). geometry = [rank, shape..., stridesA..., stridesB...]: out is contiguous over
   * shape, a and b are read with element strides (0 where they broadcast). Copy ignores b.
   */
  binary(kind: Elementwise, a: Float32Array, b: Float32Array | null, out: Float32Array, geometry: Float64Array, accumulate: boolean): void;

  /**
   * out = a·b + c·d + e elementwise, then by `mode`: Set writes it; Add adds it to out; Relu writes
   * max(it, 0) as the Max kind gives it (NaN kept, -0 to +0: batch norm's affine map and the ReLU
   * after it in one pass); Gate writes it where mask > 0 and +0 elsewhere, as the Gate kind gives it
   * (the affine map's tangent and ReLU's gate in one pass). Rounded as written, each operand read
   * with its own strides; c and d (together) and e may be null, leaving that term out.
   * geometry = [rank, shape..., strides of a, b, c, d, e... (and of the mask, Gate only)] (any
   * strides for a null operand); mask is given with Gate and only then.
   */
  muladd(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array | null,
    d: Float32Array | null,
    e: Float32Array | null,
    out: Float32Array,
    geometry: Float64Array,
    mode: Muladd,
    mask?: Float32Array | null,
  ): void;

  /**
   * out[o] = Σ a·b (Σ a when b is null) over an iteration; geometry = [rank, shape..., stridesA...,
   * stridesB..., stridesOut...] with out's strides 0 along the summed dimensions. Sums in float64;
   * out is overwritten.
   */
  reduce(a: Float32Array, b: Float32Array | null, out: Float32Array, geometry: Float64Array): void;

  /**
   * The cotangents of y = x·s + t over NCHW (N x C x HW, s and t per channel), optionally through
   * a ReLU after it: gm = g, or g where mask > 0 (mask is y; +0 elsewhere, as the gate kind);
   * dx = gm·s (overwritten), ds[c] = Σ gm·x and dt[c] = Σ gm (float64 sums, overwritten), in one
   * pass over g: batch norm's backward pass without its three separate sweeps.
   */
  affineBackward(g: Float32Array, x: Float32Array, s: Float32Array, mask: Float32Array | null, dx: Float32Array, ds: Float32Array, dt: Float32Array, N: number, C: number, HW: number): void;

  /**
   * The tangent of affineBackward's cotangents for a block of k tangents, which a product replays
   * through a recorded backward pass: with gm = g and dgm = tg, both gated by the mask when there
   * is one, per tangent b of the block, dgx = dgm·s + gm·ts (the ts term left out when ts is
   * null), dgs[c] = Σ dgm·x + Σ gm·tx (each sum in float64, rounded, then added; the second left
   * out when tx is null) and dgt[c] = Σ dgm. tg, tx and dgx hold k blocks of N·C·HW, ts, dgs and
   * dgt k blocks of C; outputs are overwritten. The tangents of the gate, the multiply and the
   * three reductions of batch norm's recorded backward in one pass.
   */
  affineBackwardTangent(
    g: Float32Array,
    x: Float32Array,
    s: Float32Array,
    mask: Float32Array | null,
    tg: Float32Array,
    tx: Float32Array | null,
    ts: Float32Array | null,
    dgx: Float32Array,
    dgs: Float32Array,
    dgt: Float32Array,
    k: number,
    N: number,
    C: number,
    HW: number,
  ): void;

  /**
   * Classical Gram-Schmidt, `passes` times, of v against an orthonormal basis (every vector as
   * long as v): c_j = <b_j, work> for all j, then work -= Σ_j c_j b_j, in a float64 copy `work`
   * of v rounded into v once at the end; coeffs[j] += c_j (not cleared first). Each dot product is
   * summed in float64 in index order, each element updated in basis order skipping c_j = 0, so
   * that every implementation gives the same bits. The estimators' reorthogonalisation.
   */
  gramSchmidt(v: Float32Array, basis: readonly Float32Array[], passes: number, coeffs: Float64Array): void;
}
