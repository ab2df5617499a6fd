import { makeNode, tangentBuffer, valueBuffer, type Node, type Primitive } from '../autodiff/index.js';
import { ShapeError } from '../errors.js';
import { formatShape, Tensor } from '../tensor/index.js';
import { mul, sub, sum } from './arithmetic.js';
import { exp } from './unary.js';

const logSoftmaxOp: Primitive = {
  name: 'logSoftmax',
  jvpReads: (node) => [node],
  // dy = dx - <softmax(x), dx> per row
  jvp(node, [t], k) {
    const [rows, cols] = node.shape as [number, number];
    const y = node.value.data;
    const td = t!.data;
    const out = tangentBuffer(k * rows * cols);
    for (let j = 0; j < k; j++) {
      for (let r = 0; r < rows; r++) {
        const o = (j * rows + r) * cols, yo = r * cols;
        let dot = 0;
        for (let c = 0; c < cols; c++) dot += Math.exp(y[yo + c]!) * td[o + c]!;
        for (let c = 0; c < cols; c++) out[o + c] = td[o + c]! - dot;
      }
    }
    return new Tensor([k, rows, cols], out);
  },
  // gx = g - softmax(x)·sum(g), with softmax(x) = exp(y), written with primitives
  vjp(node, g) {
    return [sub(g, mul(exp(node), sum(g, 1, true)))];
  },
};

/** log(softmax(x)) over the last axis of a [N, C] tensor, stable for logits of any size. */
export function logSoftmax(x: Node): Node {
  if (x.shape.length !== 2) throw new ShapeError(`logSoftmax expects [N, C] logits, got ${formatShape(x.shape)}`);
  const [rows, cols] = x.shape as [number, number];
  const xs = x.value.data;
  const out = new Tensor([rows, cols], valueBuffer(rows * cols));
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, xs[o + c]!);
    if (!Number.isFinite(max)) max = 0;
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(xs[o + c]! - max);
    // (x − max) − log Σ: subtracting max + log Σ would lose log Σ against a huge max
    const logSum = Math.log(s);
    for (let c = 0; c < cols; c++) out.data[o + c] = xs[o + c]! - max - logSum;
  }
  return makeNode(logSoftmaxOp, [x], out);
}
