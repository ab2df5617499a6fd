import { describe, expect, it } from 'vitest';
import { constant, SecondOrderContext, valueAndGrad } from '../../src/autodiff/index.js';
import { NonFiniteError, ShapeError } from '../../src/errors.js';
import { crossEntropy, linear, logSoftmax, matmul, mul } from '../../src/ops/index.js';
import { Tensor } from '../../src/tensor/index.js';

describe('numerical safety', () => {
  it('log-softmax and cross-entropy are stable for logits of any size', () => {
    const huge = Float32Array.of(1e30, -1e30, 0, 3e38, 3e38, -3e38);
    const r = valueAndGrad(huge, [[2, 3]], ([z]) => crossEntropy(z!, [0, 1]));
    expect(Number.isFinite(r.loss)).toBe(true);
    // row 0: the first logit dominates and is the label, so its loss is 0; row 1: two equal maxima, label one of them
    expect(r.loss).toBeCloseTo(Math.log(2) / 2, 6);
    expect(r.gradient.every(Number.isFinite)).toBe(true);
    const lsm = logSoftmax(constant(new Tensor([1, 3], Float32Array.of(1000, 1000, -1000))));
    expect(lsm.value.data[0]).toBeCloseTo(-Math.log(2), 6);
    expect(lsm.value.data[2]).toBeLessThan(-1000);
  });

  it('a NaN or infinite loss stops with an error that says so', () => {
    const x = constant(new Tensor([1, 2], Float32Array.of(1, 2)));
    const f = ([w]: ReturnType<typeof constant>[]) => crossEntropy(linear(x, w!), [0]);
    expect(() => valueAndGrad(Float32Array.of(NaN, 1, 2, 3), [[2, 2]], f)).toThrow(NonFiniteError);
    expect(() => new SecondOrderContext(Float32Array.of(Infinity, 1, 2, 3), [[2, 2]], f)).toThrow(/not finite/);
    // a product that is not finite is refused, not returned
    const ctx = new SecondOrderContext(Float32Array.of(0.5, 1, 2, 3), [[2, 2]], f);
    expect(() => ctx.hvp(Float32Array.of(NaN, 0, 0, 0))).toThrow(/Hessian-vector product holds NaN/);
  });

  it('mismatched shapes are refused with the shapes named', () => {
    const a = constant(new Tensor([2, 3])), b = constant(new Tensor([4, 2]));
    expect(() => matmul(a, b)).toThrow(ShapeError);
    expect(() => matmul(a, b)).toThrow(/\[2, 3\] times \[4, 2\]/);
    expect(() => mul(a, constant(new Tensor([2, 2])))).toThrow(/cannot be broadcast/);
  });
});
