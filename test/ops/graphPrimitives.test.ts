import { describe, expect, it } from 'vitest';
import { constant, type Node } from '../../src/autodiff/index.js';
import * as ops from '../../src/ops/index.js';
import { Rng, Tensor, type Shape } from '../../src/tensor/index.js';
import { checkDerivatives } from '../helpers/derivatives.js';

/** A fixed random weighting that makes any output a scalar with a non-trivial Hessian: Σ a·y + b·y². */
function readout(y: Node, seed = 99): Node {
  const rng = new Rng(seed);
  const a = constant(new Tensor(y.shape, rng.fillNormal(new Float32Array(y.value.size)) as Float32Array));
  const b = constant(new Tensor(y.shape, rng.fillUniform(new Float32Array(y.value.size), 0.1, 0.5) as Float32Array));
  return ops.sum(ops.add(ops.mul(a, y), ops.mul(b, ops.mul(y, y))));
}

const value = (shape: Shape, seed: number) => {
  const n = shape.reduce((p, d) => p * d, 1);
  return new Tensor(shape, new Rng(seed).fillUniform(new Float32Array(n), -1, 1) as Float32Array);
};

describe('primitives for imported graphs, against central differences', () => {
  it('erf', () => {
    checkDerivatives([[4, 5]], ([x]) => readout(ops.erf(x!)), { init: (rng, t) => rng.fillUniform(t, -2, 2) });
  });

  it('batched matmul with broadcast batch dimensions in every transpose combination', () => {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const aShape = ta ? [2, 1, 4, 3] : [2, 1, 3, 4];
      const bShape = tb ? [3, 5, 4] : [3, 4, 5];
      checkDerivatives([aShape, bShape], ([a, b]) => readout(ops.batchMatmul(a!, b!, ta, tb)));
    }
  });

  it('batched matmul equals one matmul per batch entry', () => {
    const a = constant(value([3, 2, 4], 1)), b = constant(value([4, 5], 2));
    const y = ops.batchMatmul(a, b).value;
    for (let i = 0; i < 3; i++) {
      const ai = constant(new Tensor([2, 4], a.value.data.slice(i * 8, (i + 1) * 8)));
      const yi = ops.matmul(ai, b).value.data;
      expect([...y.data.subarray(i * 10, (i + 1) * 10)]).toEqual([...yi]);
    }
  });

  it('permute, slice (negative steps), narrow, place (padding and dilation), concat', () => {
    checkDerivatives([[2, 3, 4]], ([x]) => readout(ops.permute(x!, [2, 0, 1])));
    checkDerivatives([[4, 5]], ([x]) => readout(ops.slice(x!, { start: [3, 0], step: [-2, 2], count: [2, 3] })));
    checkDerivatives([[3, 6]], ([x]) => readout(ops.narrow(x!, 1, 2, 3)));
    checkDerivatives([[2, 3]], ([x]) => readout(ops.place(x!, [4, 7], [1, 0], [1, 3])));
    checkDerivatives([[2, 3, 2], [2, 1, 2], [2, 4, 2]], ([a, b, c]) => readout(ops.concat([a!, b!, c!], 1)));
  });

  it('permute moves the values where numpy.transpose does', () => {
    const x = constant(Tensor.from([2, 3], [0, 1, 2, 3, 4, 5]));
    expect([...ops.permute(x, [1, 0]).value.data]).toEqual([0, 3, 1, 4, 2, 5]);
    expect([...ops.concat([x, x], 0).value.data]).toEqual([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]);
    expect([...ops.slice(x, { start: [1, 2], step: [-1, -1], count: [2, 3] }).value.data]).toEqual([5, 4, 3, 2, 1, 0]);
  });

  it('convolution with groups, dilation and asymmetric padding', () => {
    checkDerivatives([[2, 4, 6, 6], [4, 1, 3, 3], [4]], ([x, w, b]) => readout(ops.convGeneral(x!, w!, { groups: 4, pads: [1, 1, 1, 1] }, b!)));
    checkDerivatives([[1, 4, 7, 7], [6, 2, 3, 2]], ([x, w]) => readout(ops.convGeneral(x!, w!, { groups: 2, dilation: [2, 1], stride: [2, 1], pads: [2, 0, 1, 1] })));
  });

  it('a dilated, grouped convolution equals the dense sum it stands for', () => {
    const x = value([1, 2, 6, 6], 3), w = value([2, 1, 2, 2], 4);
    const y = ops.convGeneral(constant(x), constant(w), { groups: 2, dilation: [2, 2], pads: [1, 0, 0, 1] }).value;
    // y[o, i, j] = Σ_ab w[o, 0, a, b] · xpad[o, i + 2a, j + 2b], xpad = x padded by 1 on top and right
    const xp = (c: number, i: number, j: number) => (i - 1 < 0 || i - 1 >= 6 || j >= 6 ? 0 : x.data[c * 36 + (i - 1) * 6 + j]!);
    const Ho = 7 - 2, Wo = 7 - 2;
    expect(y.shape).toEqual([1, 2, Ho, Wo]);
    for (let o = 0; o < 2; o++) {
      for (let i = 0; i < Ho; i++) {
        for (let j = 0; j < Wo; j++) {
          let s = 0;
          for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) s += w.data[o * 4 + a * 2 + b]! * xp(o, i + 2 * a, j + 2 * b);
          expect(y.data[o * Ho * Wo + i * Wo + j]).toBeCloseTo(s, 5);
        }
      }
    }
  });
});
