import { makeNode, tangentBuffer, tangentZeros, valueBuffer, valueZeros, type Node, type Primitive } from '../autodiff/index.js';
import { ShapeError } from '../errors.js';
import { formatShape, Tensor } from '../tensor/index.js';
import { mean } from './arithmetic.js';
import { take } from './gather.js';

export interface PoolOptions {
  kernel: number;
  stride?: number;
  padding?: number;
}

interface PoolGeometry {
  N: number;
  C: number;
  H: number;
  W: number;
  k: number;
  s: number;
  p: number;
  Ho: number;
  Wo: number;
}

function geometry(shape: readonly number[], opts: PoolOptions): PoolGeometry {
  if (shape.length !== 4) throw new ShapeError(`pooling needs an NCHW input, got ${formatShape(shape)}`);
  const [N, C, H, W] = shape as [number, number, number, number];
  const k = opts.kernel, s = opts.stride ?? opts.kernel, p = opts.padding ?? 0;
  if (p > k / 2) throw new ShapeError(`pooling: padding ${p} must be at most half the kernel size ${k}`);
  const Ho = Math.floor((H + 2 * p - k) / s) + 1;
  const Wo = Math.floor((W + 2 * p - k) / s) + 1;
  if (Ho <= 0 || Wo <= 0) throw new ShapeError(`pooling: a ${k}x${k} window does not fit a ${H}x${W} input`);
  return { N, C, H, W, k, s, p, Ho, Wo };
}

/** y[n,c,oy,ox] = sum of the window's x (or, when `adjoint`, the transpose: spreads y back over x). */
function windowSum(src: Float32Array, dst: Float32Array, g: PoolGeometry, planes: number, adjoint: boolean): void {
  const scale = 1 / (g.k * g.k);
  const inPlane = g.H * g.W, outPlane = g.Ho * g.Wo;
  for (let pl = 0; pl < planes; pl++) {
    const xo = pl * inPlane, yo = pl * outPlane;
    for (let oy = 0; oy < g.Ho; oy++) {
      for (let ox = 0; ox < g.Wo; ox++) {
        const yi = yo + oy * g.Wo + ox;
        let acc = 0;
        for (let i = 0; i < g.k; i++) {
          const iy = oy * g.s - g.p + i;
          if (iy < 0 || iy >= g.H) continue;
          for (let j = 0; j < g.k; j++) {
            const ix = ox * g.s - g.p + j;
            if (ix < 0 || ix >= g.W) continue;
            if (adjoint) dst[xo + iy * g.W + ix] += src[yi]! * scale;
            else acc += src[xo + iy * g.W + ix]!;
          }
        }
        if (!adjoint) dst[yi] = acc * scale;
      }
    }
  }
}

/** Average pooling and its transpose: each is linear, and each is the other's vjp. */
function windowOp(name: string, adjoint: boolean): Primitive {
  return {
    name,
    jvpReads: () => [],
    jvp(node, [t], k) {
      const g = node.saved as PoolGeometry;
      // the transpose accumulates into its output; the pooling writes every output element
      const out = adjoint ? tangentZeros(k * node.value.size) : tangentBuffer(k * node.value.size);
      windowSum(t!.data, out, g, k * g.N * g.C, adjoint);
      return new Tensor([k, ...node.shape], out);
    },
    vjp: (node, cotangent) => [windowNode(cotangent, node.saved as PoolGeometry, !adjoint)],
  };
}

const avgPoolOp = windowOp('avgPool2d', false);
const avgPoolAdjointOp = windowOp('avgPool2dAdjoint', true);

function windowNode(x: Node, g: PoolGeometry, adjoint: boolean): Node {
  // the transpose accumulates into its output; the pooling writes every output element
  const n = g.N * g.C * (adjoint ? g.H * g.W : g.Ho * g.Wo);
  const out = new Tensor(adjoint ? [g.N, g.C, g.H, g.W] : [g.N, g.C, g.Ho, g.Wo], adjoint ? valueZeros(n) : valueBuffer(n));
  windowSum(x.value.data, out.data, g, g.N * g.C, adjoint);
  return makeNode(adjoint ? avgPoolAdjointOp : avgPoolOp, [x], out, g);
}

/** Average pooling; padded positions count as zeros in the average (PyTorch's count_include_pad). */
export function avgPool2d(x: Node, opts: PoolOptions): Node {
  return windowNode(x, geometry(x.shape, opts), false);
}

/**
 * Max pooling as a gather of the window maxima: the chosen positions are piecewise constant in
 * x, so the derivative flows only through them (ties go to the first position, as PyTorch).
 */
export function maxPool2d(x: Node, opts: PoolOptions): Node {
  const g = geometry(x.shape, opts);
  const index = new Int32Array(g.N * g.C * g.Ho * g.Wo);
  const xs = x.value.data;
  let o = 0;
  for (let pl = 0; pl < g.N * g.C; pl++) {
    const base = pl * g.H * g.W;
    for (let oy = 0; oy < g.Ho; oy++) {
      for (let ox = 0; ox < g.Wo; ox++) {
        let best = -Infinity, at = -1;
        for (let i = 0; i < g.k; i++) {
          const iy = oy * g.s - g.p + i;
          if (iy < 0 || iy >= g.H) continue;
          for (let j = 0; j < g.k; j++) {
            const ix = ox * g.s - g.p + j;
            if (ix < 0 || ix >= g.W) continue;
            const v = xs[base + iy * g.W + ix]!;
            if (v > best || at < 0 || Number.isNaN(v)) {
              best = v;
              at = base + iy * g.W + ix;
            }
          }
        }
        index[o++] = at;
      }
    }
  }
  return take(x, index, [g.N, g.C, g.Ho, g.Wo]);
}

/** Mean over the spatial dimensions: [N, C, H, W] to [N, C]. */
export function globalAvgPool(x: Node): Node {
  if (x.shape.length !== 4) throw new ShapeError(`global average pooling needs an NCHW input, got ${formatShape(x.shape)}`);
  return mean(x, [2, 3]);
}
