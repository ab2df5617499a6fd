import { Elementwise, kernels } from '../kernels/index.js';
import { Tensor } from '../tensor/index.js';
import { makeNode, type Node, type Primitive } from './node.js';
import { tangentBuffer, valueBuffer } from './tangentPool.js';

/**
 * Sum of two values of the same shape: how the backward pass adds up the cotangents that reach a
 * node along several paths. The broadcasting arithmetic lives in ops/; this one stays here so the
 * tape depends on nothing above it.
 */
function addSame(a: Float32Array, b: Float32Array, alloc: (n: number) => Float32Array): Float32Array {
  const out = alloc(a.length);
  if (out.length > 0) kernels().binary(Elementwise.Add, a, b, out, Float64Array.of(1, out.length, 1, 1), false);
  return out;
}

const accumulateOp: Primitive = {
  name: 'accumulate',
  jvpReads: () => [],
  jvp(_node, [ta, tb]) {
    if (!ta) return tb ?? null;
    if (!tb) return ta;
    return new Tensor(ta.shape, addSame(ta.data, tb.data, tangentBuffer));
  },
  vjp(_node, g, needed) {
    return [needed[0] ? g : null, needed[1] ? g : null];
  },
};

export function accumulate(a: Node, b: Node): Node {
  return makeNode(accumulateOp, [a, b], new Tensor(a.shape, addSame(a.value.data, b.value.data, valueBuffer)));
}
