import { Tensor } from '../tensor/index.js';
import { makeNode, type Node, type Primitive } from './node.js';

/**
 * Sum of two values of the same shape: how the backward pass adds up the cotangents that reach a
 * node along several paths. The broadcasting arithmetic lives in ops/; this one stays here so the
 * tape depends on nothing above it.
 */
const accumulateOp: Primitive = {
  name: 'accumulate',
  jvp(_node, [ta, tb]) {
    if (!ta) return tb ?? null;
    if (!tb) return ta;
    const out = new Float32Array(ta.size);
    for (let i = 0; i < out.length; i++) out[i] = ta.data[i]! + tb.data[i]!;
    return new Tensor(ta.shape, out);
  },
  vjp(_node, g, needed) {
    return [needed[0] ? g : null, needed[1] ? g : null];
  },
};

export function accumulate(a: Node, b: Node): Node {
  const out = new Float32Array(a.value.size);
  const x = a.value.data, y = b.value.data;
  for (let i = 0; i < out.length; i++) out[i] = x[i]! + y[i]!;
  return makeNode(accumulateOp, [a, b], new Tensor(a.shape, out));
}
