import { constant, valueAndGrad, type Node } from '../../src/autodiff/index.js';
import { lossOf, type Batch, type Model, type ObjectiveOptions } from '../../src/nn/index.js';
import { mul, sum } from '../../src/ops/index.js';
import { Tensor } from '../../src/tensor/index.js';

/** Jᵀ H_L J v with J·v and H_L·u by Richardson-extrapolated central differences (float64), Jᵀ by one reverse pass. */
export function ggnByDifferences(model: Model, batch: Batch, opts: ObjectiveOptions, v: Float32Array, h = 2 ** -7): Float64Array {
  const outputsAt = (theta: Float32Array) => {
    const params = model.blocks.map((b) => constant(new Tensor(b.shape, theta.subarray(b.offset, b.offset + b.length))));
    return model.forward(params, batch.x, 'eval', batch.xKind).logits.value;
  };
  const richardson = (f: (t: number) => ArrayLike<number>) => {
    const [p1, m1, p2, m2] = [f(h), f(-h), f(2 * h), f(-2 * h)];
    return Float64Array.from(p1, (_, i) => (8 * (p1[i]! - m1[i]!) - (p2[i]! - m2[i]!)) / (12 * h));
  };
  const z0 = outputsAt(model.theta);
  const Jv = richardson((t) => outputsAt(model.theta.map((x, i) => x + t * v[i]!)).data);
  const lossGrad = (z: Float32Array) => valueAndGrad(z, [z0.shape], ([zn]) => lossOf(zn!, batch, opts)).gradient;
  const HJv = richardson((t) => lossGrad(z0.data.map((x, i) => x + t * Jv[i]!)));
  const w = new Tensor(z0.shape, Float32Array.from(HJv));
  const { gradient } = valueAndGrad(model.theta, model.shapes, (params: Node[]) => sum(mul(model.forward(params, batch.x, 'eval', batch.xKind).logits, constant(w))));
  return Float64Array.from(gradient);
}
