import { convOutputSize, Elementwise, Muladd, type ConvGeometry, type Kernels } from './types.js';

/**
 * Plain TypeScript kernels written for clarity, not speed. They are the oracle the native kernels
 * are tested against, and the fallback when the addon is not built. Sums run in float64.
 */
function sgemm(
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
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let p = 0; p < K; p++) {
        const a = transA ? A[p * M + i]! : A[i * K + p]!;
        const b = transB ? B[j * K + p]! : B[p * N + j]!;
        s += a * b;
      }
      C[i * N + j] = beta === 0 ? alpha * s : alpha * s + beta * C[i * N + j]!;
    }
  }
}

function im2col(x: Float32Array, g: ConvGeometry, col: Float32Array): void {
  const { Ho, Wo } = convOutputSize(g);
  for (let c = 0; c < g.C; c++) {
    for (let i = 0; i < g.kh; i++) {
      for (let j = 0; j < g.kw; j++) {
        const row = (c * g.kh + i) * g.kw + j;
        for (let oy = 0; oy < Ho; oy++) {
          const iy = oy * g.sh - g.ph + i;
          for (let ox = 0; ox < Wo; ox++) {
            const ix = ox * g.sw - g.pw + j;
            const inside = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W;
            col[row * Ho * Wo + oy * Wo + ox] = inside ? x[(c * g.H + iy) * g.W + ix]! : 0;
          }
        }
      }
    }
  }
}

function col2im(col: Float32Array, g: ConvGeometry, x: Float32Array): void {
  const { Ho, Wo } = convOutputSize(g);
  for (let c = 0; c < g.C; c++) {
    for (let i = 0; i < g.kh; i++) {
      for (let j = 0; j < g.kw; j++) {
        const row = (c * g.kh + i) * g.kw + j;
        for (let oy = 0; oy < Ho; oy++) {
          const iy = oy * g.sh - g.ph + i;
          if (iy < 0 || iy >= g.H) continue;
          for (let ox = 0; ox < Wo; ox++) {
            const ix = ox * g.sw - g.pw + j;
            if (ix < 0 || ix >= g.W) continue;
            x[(c * g.H + iy) * g.W + ix] += col[row * Ho * Wo + oy * Wo + ox]!;
          }
        }
      }
    }
  }
}

/** The second pair of a paired convolution (both or neither), as a second call that accumulates. */
function secondPair(fn: string, a?: Float32Array, b?: Float32Array): [Float32Array, Float32Array] | undefined {
  if (!a !== !b) throw new TypeError(`${fn}: the second pair needs both of its arrays`);
  return a && b ? [a, b] : undefined;
}

const conv2dForward: Kernels['conv2dForward'] = (x, w, y, N, O, g, accumulate = false, x2, w2) => {
  const second = secondPair('conv2dForward', x2, w2);
  convForwardOne(x, w, y, N, O, g, accumulate);
  if (second) convForwardOne(second[0], second[1], y, N, O, g, true);
};

const conv2dBackwardInput: Kernels['conv2dBackwardInput'] = (gy, w, gx, N, O, g, accumulate = false, gy2, w2) => {
  const second = secondPair('conv2dBackwardInput', gy2, w2);
  convBackwardInputOne(gy, w, gx, N, O, g, accumulate);
  if (second) convBackwardInputOne(second[0], second[1], gx, N, O, g, true);
};

function convForwardOne(x: Float32Array, w: Float32Array, y: Float32Array, N: number, O: number, g: ConvGeometry, accumulate: boolean): void {
  const { Ho, Wo } = convOutputSize(g);
  const K = g.C * g.kh * g.kw;
  const P = Ho * Wo;
  const col = new Float32Array(K * P);
  const inSize = g.C * g.H * g.W;
  for (let n = 0; n < N; n++) {
    im2col(x.subarray(n * inSize, (n + 1) * inSize), g, col);
    sgemm(false, false, O, P, K, 1, w, col, accumulate ? 1 : 0, y.subarray(n * O * P, (n + 1) * O * P));
  }
}

function convBackwardInputOne(gy: Float32Array, w: Float32Array, gx: Float32Array, N: number, O: number, g: ConvGeometry, accumulate: boolean): void {
  const { Ho, Wo } = convOutputSize(g);
  const K = g.C * g.kh * g.kw;
  const P = Ho * Wo;
  const col = new Float32Array(K * P);
  const inSize = g.C * g.H * g.W;
  if (!accumulate) gx.fill(0, 0, N * inSize);
  for (let n = 0; n < N; n++) {
    sgemm(true, false, K, P, O, 1, w, gy.subarray(n * O * P, (n + 1) * O * P), 0, col);
    col2im(col, g, gx.subarray(n * inSize, (n + 1) * inSize));
  }
}

function conv2dBackwardWeight(gy: Float32Array, x: Float32Array, gw: Float32Array, N: number, O: number, g: ConvGeometry, accumulate = false): void {
  const { Ho, Wo } = convOutputSize(g);
  const K = g.C * g.kh * g.kw;
  const P = Ho * Wo;
  const col = new Float32Array(K * P);
  const inSize = g.C * g.H * g.W;
  for (let n = 0; n < N; n++) {
    im2col(x.subarray(n * inSize, (n + 1) * inSize), g, col);
    sgemm(false, true, O, K, P, 1, gy.subarray(n * O * P, (n + 1) * O * P), col, n === 0 && !accumulate ? 0 : 1, gw);
  }
  if (N === 0 && !accumulate) gw.fill(0, 0, O * K);
}

/** Visits every index of the iteration in row-major order with each stride list's element offset. */
function iterate(geometry: Float64Array, sets: number, f: (offsets: Float64Array) => void): void {
  const rank = geometry[0]!;
  const shape = geometry.subarray(1, 1 + rank);
  const strides = Array.from({ length: sets }, (_, s) => geometry.subarray(1 + rank * (1 + s), 1 + rank * (2 + s)));
  if (shape.some((d) => d === 0)) return;
  const idx = new Array<number>(rank).fill(0);
  const offsets = new Float64Array(sets);
  for (;;) {
    f(offsets);
    let d = rank - 1;
    for (; d >= 0; d--) {
      for (let s = 0; s < sets; s++) offsets[s] += strides[s]![d]!;
      if (++idx[d]! < shape[d]!) break;
      for (let s = 0; s < sets; s++) offsets[s] -= strides[s]![d]! * shape[d]!;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

function binary(kind: Elementwise, a: Float32Array, b: Float32Array | null, out: Float32Array, geometry: Float64Array, accumulate: boolean): void {
  let o = 0;
  iterate(geometry, 2, (off) => {
    const x = a[off[0]!]!;
    const y = kind === Elementwise.Copy ? 0 : b![off[1]!]!;
    const r =
      kind === Elementwise.Add ? x + y
      : kind === Elementwise.Sub ? x - y
      : kind === Elementwise.Mul ? x * y
      : kind === Elementwise.Div ? x / y
      : kind === Elementwise.Max ? (x > y || Number.isNaN(x) ? x : y)
      : kind === Elementwise.Greater ? (x > y ? 1 : 0)
      : kind === Elementwise.Gate ? (y > 0 ? x : 0)
      : x;
    out[o] = accumulate ? out[o]! + r : r;
    o++;
  });
}

function muladd(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array | null,
  d: Float32Array | null,
  e: Float32Array | null,
  out: Float32Array,
  geometry: Float64Array,
  mode: Muladd,
  mask: Float32Array | null = null,
): void {
  if (!Object.values(Muladd).includes(mode)) throw new RangeError('muladd: mode must be 0 (set), 1 (add), 2 (relu) or 3 (gate)');
  const gated = mode === Muladd.Gate;
  if (gated && !mask) throw new TypeError('muladd: mode gate (3) needs the mask, a Float32Array, as the 9th argument');
  if (!gated && mask) throw new TypeError('muladd: a mask goes with mode gate (3) only: pass null, or mode 3');
  let o = 0;
  const f = Math.fround;
  iterate(geometry, gated ? 6 : 5, (off) => {
    let r = f(a[off[0]!]! * b[off[1]!]!);
    if (c && d) r = f(r + f(c[off[2]!]! * d[off[3]!]!));
    if (e) r = f(r + e[off[4]!]!);
    if (mode === Muladd.Relu) r = r > 0 || Number.isNaN(r) ? r : 0;
    if (gated) r = mask![off[5]!]! > 0 ? r : 0;
    out[o] = mode === Muladd.Add ? out[o]! + r : r;
    o++;
  });
}

function reduce(a: Float32Array, b: Float32Array | null, out: Float32Array, geometry: Float64Array): void {
  const acc = new Float64Array(out.length);
  iterate(geometry, 3, (off) => {
    acc[off[2]!] += b ? a[off[0]!]! * b[off[1]!]! : a[off[0]!]!;
  });
  out.set(acc);
}

function affineBackward(g: Float32Array, x: Float32Array, s: Float32Array, mask: Float32Array | null, dx: Float32Array, ds: Float32Array, dt: Float32Array, N: number, C: number, HW: number): void {
  const sgx = new Float64Array(C), sg = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const sc = s[c]!;
      for (let i = (n * C + c) * HW, end = i + HW; i < end; i++) {
        const v = mask && !(mask[i]! > 0) ? 0 : g[i]!;
        dx[i] = v * sc;
        sgx[c] += v * x[i]!;
        sg[c] += v;
      }
    }
  }
  ds.set(sgx);
  dt.set(sg);
}

const affineBackwardTangent: Kernels['affineBackwardTangent'] = (g, x, s, mask, tg, tx, ts, dgx, dgs, dgt, k, N, C, HW) => {
  const f = Math.fround;
  const n1 = N * C * HW;
  for (let b = 0; b < k; b++) {
    const a1 = new Float64Array(C), a2 = new Float64Array(C), sg = new Float64Array(C);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const sc = s[c]!, tsc = ts ? ts[b * C + c]! : 0;
        for (let i = (n * C + c) * HW, end = i + HW; i < end; i++) {
          const open = !mask || mask[i]! > 0;
          const v = open ? g[i]! : 0, dv = open ? tg[b * n1 + i]! : 0;
          dgx[b * n1 + i] = ts ? f(f(dv * sc) + f(v * tsc)) : dv * sc;
          a1[c] += dv * x[i]!;
          if (tx) a2[c] += v * tx[b * n1 + i]!;
          sg[c] += dv;
        }
      }
    }
    for (let c = 0; c < C; c++) {
      dgs[b * C + c] = tx ? f(a1[c]!) + f(a2[c]!) : a1[c]!;
      dgt[b * C + c] = sg[c]!;
    }
  }
};

/**
 * Kernels.gramSchmidt, for float32 or float64 vectors alike (the estimators also orthogonalise
 * float64 ones, which only this implementation takes).
 */
export function gramSchmidtAny(v: Float32Array | Float64Array, basis: readonly (Float32Array | Float64Array)[], passes: number, coeffs: Float64Array): void {
  const n = v.length;
  for (const b of basis) if (b.length !== n) throw new RangeError(`Gram-Schmidt of a vector of length ${n} against a basis vector of length ${b.length}`);
  if (basis.length === 0 || passes <= 0) return;
  const work = Float64Array.from(v);
  const c = new Float64Array(basis.length);
  for (let pass = 0; pass < passes; pass++) {
    for (let j = 0; j < basis.length; j++) {
      const b = basis[j]!;
      let s = 0;
      for (let i = 0; i < n; i++) s += b[i]! * work[i]!;
      c[j] = s;
    }
    for (let j = 0; j < basis.length; j++) {
      const b = basis[j]!;
      const cj = c[j]!;
      if (cj === 0) continue;
      for (let i = 0; i < n; i++) work[i] = work[i]! - cj * b[i]!;
      coeffs[j] = coeffs[j]! + cj;
    }
  }
  for (let i = 0; i < n; i++) v[i] = work[i]!;
}

export const referenceKernels: Kernels = {
  name: 'reference',
  description: 'reference (plain TypeScript)',
  sgemm,
  im2col,
  col2im,
  conv2dForward,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  binary,
  muladd,
  reduce,
  affineBackward,
  affineBackwardTangent,
  gramSchmidt: gramSchmidtAny,
};
