import { makeNode, tangentBuffer, tangentZeros, valueBuffer, valueZeros, type Node, type Primitive } from '../autodiff/index.js';
import { sizeOf, Tensor, type Shape } from '../tensor/index.js';

interface IndexInfo {
  /** flat positions into the source, one per output element */
  index: Int32Array;
  /** the shape of the larger side (the source of take, the target of scatterAdd) */
  fullShape: Shape;
}

const takeOp: Primitive = {
  name: 'take',
  jvpReads: () => [],
  jvp(node, [t], k) {
    const { index, fullShape } = node.saved as IndexInfo;
    const n = index.length;
    const src = t!.data;
    const full = src.length / k;
    const out = tangentBuffer(k * n);
    for (let j = 0; j < k; j++) for (let i = 0; i < n; i++) out[j * n + i] = src[j * full + index[i]!]!;
    void fullShape;
    return new Tensor([k, ...node.shape], out);
  },
  vjp(node, g) {
    const { index, fullShape } = node.saved as IndexInfo;
    return [scatterAdd(g, index, fullShape)];
  },
};

const scatterAddOp: Primitive = {
  name: 'scatterAdd',
  jvpReads: () => [],
  jvp(node, [t], k) {
    const { index } = node.saved as IndexInfo;
    const n = index.length;
    const full = node.value.size;
    const out = tangentZeros(k * full);
    const src = t!.data;
    for (let j = 0; j < k; j++) for (let i = 0; i < n; i++) out[j * full + index[i]!] += src[j * n + i]!;
    return new Tensor([k, ...node.shape], out);
  },
  vjp(node, g) {
    const { index } = node.saved as IndexInfo;
    return [take(g, index, node.inputs[0]!.shape)];
  },
};

/** out[i] = x.flat[index[i]], shaped `shape`. Linear in x; the building block of picking and max pooling. */
export function take(x: Node, index: Int32Array, shape: Shape): Node {
  const out = new Tensor(shape, valueBuffer(sizeOf(shape)));
  const xs = x.value.data;
  for (let i = 0; i < index.length; i++) out.data[i] = xs[index[i]!]!;
  return makeNode(takeOp, [x], out, { index, fullShape: x.shape } satisfies IndexInfo);
}

/** The adjoint of take: a zero tensor of `fullShape` with g[i] added at flat position index[i]. */
export function scatterAdd(g: Node, index: Int32Array, fullShape: Shape): Node {
  const out = new Tensor(fullShape, valueZeros(sizeOf(fullShape)));
  const gs = g.value.data;
  for (let i = 0; i < index.length; i++) out.data[index[i]!] += gs[i]!;
  return makeNode(scatterAddOp, [g], out, { index, fullShape } satisfies IndexInfo);
}
