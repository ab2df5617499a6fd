import { makeNode, releaseTangent, tangentBuffer, tangentZeros, valueBuffer, type Node, type Primitive } from '../autodiff/index.js';
import { ShapeError } from '../errors.js';
import { convOutputSize, Elementwise, kernels, type ConvGeometry } from '../kernels/index.js';
import { formatShape, sizeOf, Tensor } from '../tensor/index.js';
import { add, reshape } from './arithmetic.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
}

interface ConvInfo {
  g: ConvGeometry;
  N: number;
  O: number;
  Ho: number;
  Wo: number;
}

function pair(v: number | [number, number] | undefined, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : v;
}

function infoFor(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions): ConvInfo {
  if (xShape.length !== 4 || wShape.length !== 4) {
    throw new ShapeError(`conv2d needs an NCHW input and an OIHW weight, got ${formatShape(xShape)} and ${formatShape(wShape)}`);
  }
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [O, Cw, kh, kw] = wShape as [number, number, number, number];
  if (C !== Cw) throw new ShapeError(`conv2d: input has ${C} channels but the weight ${formatShape(wShape)} expects ${Cw}`);
  const [sh, sw] = pair(opts.stride, 1);
  const [ph, pw] = pair(opts.padding, 0);
  const g: ConvGeometry = { C, H, W, kh, kw, sh, sw, ph, pw };
  const { Ho, Wo } = convOutputSize(g);
  if (Ho <= 0 || Wo <= 0) throw new ShapeError(`conv2d: a ${kh}x${kw} kernel does not fit a ${H}x${W} input with padding ${ph},${pw}`);
  return { g, N, O, Ho, Wo };
}

/** [k, N, O, P] -> [N, k*O, P]: the layout that lets k tangents share one convolution call. */
function blockToChannels(t: Float32Array, k: number, N: number, O: number, P: number): Float32Array {
  const out = tangentBuffer(t.length);
  const plane = O * P;
  for (let j = 0; j < k; j++) for (let n = 0; n < N; n++) out.set(t.subarray((j * N + n) * plane, (j * N + n + 1) * plane), (n * k + j) * plane);
  return out;
}

/** out[k, N, O, P] += src[N, k*O, P]: one strided pass of the elementwise kernel. */
function addChannelsToBlock(src: Float32Array, out: Float32Array, k: number, N: number, O: number, P: number): void {
  const plane = O * P;
  kernels().binary(Elementwise.Copy, src, null, out, Float64Array.of(3, k, N, plane, plane, k * plane, 1, 0, 0, 0), true);
}

const conv2dOp: Primitive = {
  name: 'conv2d',
  jvpReads: (node) => node.inputs,
  // d conv(x, w) = conv(dx, w) + conv(x, dw). The k input tangents are one batch of k·N images;
  // the k weight tangents are stacked as k·O output channels, so x is unfolded once for all k.
  jvp(node, [tx, tw], k) {
    const { g, N, O, Ho, Wo } = node.saved as ConvInfo;
    const [x, w] = node.inputs as [Node, Node];
    const P = Ho * Wo;
    // the weight term overwrites or adds to out itself when k = 1; the stacked k > 1 layout adds onto it
    const out = tx || k === 1 ? tangentBuffer(k * N * O * P) : tangentZeros(k * N * O * P);
    const kern = kernels();
    if (k === 1 && tx && tw) {
      // both terms in one call over the output
      kern.conv2dForward(tx.data, w.value.data, out, N, O, g, false, x.value.data, tw.data);
    } else {
      if (tx) kern.conv2dForward(tx.data, w.value.data, out, k * N, O, g);
      if (tw && k === 1) kern.conv2dForward(x.value.data, tw.data, out, N, O, g);
      else if (tw) {
        const stacked = tangentBuffer(N * k * O * P);
        kern.conv2dForward(x.value.data, tw.data, stacked, N, k * O, g);
        addChannelsToBlock(stacked, out, k, N, O, P);
        releaseTangent(stacked);
      }
    }
    return new Tensor([k, ...node.shape], out);
  },
  vjp(node, gy, needed) {
    const { g } = node.saved as ConvInfo;
    const [x, w] = node.inputs as [Node, Node];
    const opts = { stride: [g.sh, g.sw] as [number, number], padding: [g.ph, g.pw] as [number, number] };
    return [needed[0] ? conv2dGradInput(gy, w, x.shape, opts) : null, needed[1] ? conv2dGradWeight(gy, x, w.shape, opts) : null];
  },
};

const gradInputOp: Primitive = {
  name: 'conv2dGradInput',
  jvpReads: (node) => node.inputs,
  jvp(node, [tgy, tw], k) {
    const { g, N, O } = node.saved as ConvInfo;
    const [gy, w] = node.inputs as [Node, Node];
    const inSize = node.value.size;
    const out = tangentBuffer(k * inSize);
    const kern = kernels();
    if (!tw) {
      if (tgy) kern.conv2dBackwardInput(tgy.data, w.value.data, out, k * N, O, g);
    } else {
      const [gySize, wSize] = [gy.value.size, w.value.size];
      for (let j = 0; j < k; j++) {
        const part = (a: Float32Array, size: number) => a.subarray(j * size, (j + 1) * size);
        const [outJ, twJ] = [part(out, inSize), part(tw.data, wSize)];
        // tangent j's terms in one call over its output: gradInput(tgy_j, w) + gradInput(gy, tw_j)
        if (tgy) kern.conv2dBackwardInput(part(tgy.data, gySize), w.value.data, outJ, N, O, g, false, gy.value.data, twJ);
        else kern.conv2dBackwardInput(gy.value.data, twJ, outJ, N, O, g);
      }
    }
    return new Tensor([k, ...node.shape], out);
  },
  // <G, gradInput(gy, w)> = <conv(G, w), gy>
  vjp(node, G, needed) {
    const { g } = node.saved as ConvInfo;
    const [gy, w] = node.inputs as [Node, Node];
    const opts = { stride: [g.sh, g.sw] as [number, number], padding: [g.ph, g.pw] as [number, number] };
    return [needed[0] ? conv2d(G, w, opts) : null, needed[1] ? conv2dGradWeight(gy, G, w.shape, opts) : null];
  },
};

const gradWeightOp: Primitive = {
  name: 'conv2dGradWeight',
  jvpReads: (node) => node.inputs,
  jvp(node, [tgy, tx], k) {
    const { g, N, O, Ho, Wo } = node.saved as ConvInfo;
    const [gy, x] = node.inputs as [Node, Node];
    const P = Ho * Wo;
    const wSize = node.value.size;
    const out = tangentBuffer(k * wSize);
    const kern = kernels();
    // k output-gradient tangents as k·O channels share one unfolding of x; the result [k·O, K] is the block layout
    if (tgy) {
      const channels = k === 1 ? tgy.data : blockToChannels(tgy.data, k, N, O, P);
      kern.conv2dBackwardWeight(channels, x.value.data, out, N, k * O, g);
      if (channels !== tgy.data) releaseTangent(channels);
    }
    if (tx) {
      const xSize = x.value.size;
      for (let j = 0; j < k; j++) {
        kern.conv2dBackwardWeight(gy.value.data, tx.data.subarray(j * xSize, (j + 1) * xSize), out.subarray(j * wSize, (j + 1) * wSize), N, O, g, !!tgy);
      }
    }
    return new Tensor([k, ...node.shape], out);
  },
  // <G, gradWeight(gy, x)> = <conv(x, G), gy>
  vjp(node, G, needed) {
    const { g } = node.saved as ConvInfo;
    const [gy, x] = node.inputs as [Node, Node];
    const opts = { stride: [g.sh, g.sw] as [number, number], padding: [g.ph, g.pw] as [number, number] };
    return [needed[0] ? conv2d(x, G, opts) : null, needed[1] ? conv2dGradInput(gy, G, x.shape, opts) : null];
  },
};

/** 2-D convolution (cross-correlation, as PyTorch) of x [N,C,H,W] with w [O,C,kh,kw], optional bias [O]. */
export function conv2d(x: Node, w: Node, opts: Conv2dOptions = {}, bias?: Node): Node {
  const info = infoFor(x.shape, w.shape, opts);
  const y = new Tensor([info.N, info.O, info.Ho, info.Wo], valueBuffer(info.N * info.O * info.Ho * info.Wo));
  kernels().conv2dForward(x.value.data, w.value.data, y.data, info.N, info.O, info.g);
  const out = makeNode(conv2dOp, [x, w], y, info);
  return bias ? add(out, reshape(bias, [1, info.O, 1, 1])) : out;
}

/** The gradient of <gy, conv2d(x, w)> with respect to x, for an input of shape xShape. */
export function conv2dGradInput(gy: Node, w: Node, xShape: readonly number[], opts: Conv2dOptions): Node {
  const info = infoFor(xShape, w.shape, opts);
  const out = new Tensor(xShape, valueBuffer(sizeOf(xShape)));
  kernels().conv2dBackwardInput(gy.value.data, w.value.data, out.data, info.N, info.O, info.g);
  return makeNode(gradInputOp, [gy, w], out, info);
}

/** The gradient of <gy, conv2d(x, w)> with respect to w, for a weight of shape wShape. */
export function conv2dGradWeight(gy: Node, x: Node, wShape: readonly number[], opts: Conv2dOptions): Node {
  const info = infoFor(x.shape, wShape, opts);
  const out = new Tensor(wShape, valueBuffer(sizeOf(wShape)));
  kernels().conv2dBackwardWeight(gy.value.data, x.value.data, out.data, info.N, info.O, info.g);
  return makeNode(gradWeightOp, [gy, x], out, info);
}
