import { describe, it } from 'vitest';
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

const rnd = (shape: Shape, seed: number, lo = -1, hi = 1) =>
  constant(new Tensor(shape, new Rng(seed).fillUniform(new Float32Array(shape.reduce((p, d) => p * d, 1)), lo, hi) as Float32Array));

describe('primitive derivatives against central differences', () => {
  it('add / sub / mul / div with broadcasting', () => {
    checkDerivatives([[3, 4], [4]], ([a, b]) => readout(ops.add(a!, b!)));
    checkDerivatives([[2, 1, 3], [4, 1]], ([a, b]) => readout(ops.sub(a!, b!)));
    checkDerivatives([[2, 3, 4], [1, 3, 1]], ([a, b]) => readout(ops.mul(a!, b!)));
    checkDerivatives([[3, 4], [3, 1]], ([a, b]) => readout(ops.div(a!, b!)), {
      init: (rng, t) => rng.fillUniform(t, 0.5, 2),
    });
  });

  it('scale, addScalar, sum, mean, sumTo, broadcastTo, reshape, flatten', () => {
    checkDerivatives([[2, 3, 4]], ([x]) => readout(ops.scale(ops.addScalar(x!, 0.3), -1.7)));
    checkDerivatives([[2, 3, 4]], ([x]) => readout(ops.sum(x!, [0, 2], true)));
    checkDerivatives([[2, 3, 4]], ([x]) => readout(ops.mean(x!, 1)));
    checkDerivatives([[3, 1]], ([x]) => readout(ops.broadcastTo(x!, [2, 3, 5])));
    checkDerivatives([[2, 3, 4]], ([x]) => readout(ops.flatten(ops.reshape(x!, [6, 4]))));
    checkDerivatives([[2, 3, 4], [3, 1]], ([a, b]) => readout(ops.mulSumTo(a!, b!, [1, 3, 1])));
    checkDerivatives([[3, 1], [2, 3, 4]], ([a, b]) => readout(ops.mulSumTo(a!, b!, [3, 4])));
  });

  it.each(['relu', 'tanh', 'sigmoid', 'gelu', 'softplus'] as const)('%s', (act) => {
    // values kept away from ReLU's kink and a step small enough not to cross it
    const init = (rng: Rng, t: Float32Array) => {
      for (let i = 0; i < t.length; i++) t[i] = (rng.rademacher() * (0.3 + 2.7 * rng.uniform()));
    };
    checkDerivatives([[4, 5]], ([x]) => readout(ops.activations[act](x!)), { init, h: 2 ** -10 });
  });

  it("ReLU's fused backward g·[x > 0]", () => {
    const init = (rng: Rng, t: Float32Array) => {
      for (let i = 0; i < t.length; i++) t[i] = rng.rademacher() * (0.3 + 2.7 * rng.uniform());
    };
    checkDerivatives([[3, 4], [3, 4]], ([g, x]) => readout(ops.reluGrad(g!, x!)), { init, h: 2 ** -10 });
  });

  it('exp, log, pow', () => {
    checkDerivatives([[7]], ([x]) => readout(ops.exp(x!)), { init: (rng, t) => rng.fillUniform(t, -1, 1) });
    checkDerivatives([[7]], ([x]) => readout(ops.log(x!)), { init: (rng, t) => rng.fillUniform(t, 0.5, 3) });
    checkDerivatives([[7]], ([x]) => readout(ops.rsqrt(x!)), { init: (rng, t) => rng.fillUniform(t, 0.5, 3) });
  });

  it('matmul in every transpose combination, and linear', () => {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const aShape = ta ? [4, 3] : [3, 4];
      const bShape = tb ? [5, 4] : [4, 5];
      checkDerivatives([aShape, bShape], ([a, b]) => readout(ops.matmul(a!, b!, ta, tb)));
    }
    checkDerivatives([[3, 4], [2, 4], [2]], ([x, w, b]) => readout(ops.linear(x!, w!, b!)));
  });

  it('conv2d with stride, padding, bias and non-square kernels; its gradient primitives', () => {
    checkDerivatives([[2, 3, 6, 5], [4, 3, 3, 3], [4]], ([x, w, b]) => readout(ops.conv2d(x!, w!, { stride: 1, padding: 1 }, b!)));
    checkDerivatives([[2, 2, 7, 7], [3, 2, 3, 2]], ([x, w]) => readout(ops.conv2d(x!, w!, { stride: [2, 1], padding: [0, 1] })));
    checkDerivatives([[1, 2, 5, 5], [3, 2, 1, 1]], ([x, w]) => readout(ops.conv2d(x!, w!, { stride: 2 })));
    const opts = { stride: 2, padding: 1 };
    checkDerivatives([[2, 3, 3, 3], [3, 2, 3, 3]], ([gy, w]) => readout(ops.conv2dGradInput(gy!, w!, [2, 2, 6, 6], opts)));
    checkDerivatives([[2, 3, 3, 3], [2, 2, 6, 6]], ([gy, x]) => readout(ops.conv2dGradWeight(gy!, x!, [3, 2, 3, 3], opts)));
  });

  it('pooling: average (with padding), max, global average', () => {
    checkDerivatives([[2, 2, 6, 6]], ([x]) => readout(ops.avgPool2d(x!, { kernel: 3, stride: 2, padding: 1 })));
    checkDerivatives([[2, 2, 6, 6]], ([x]) => readout(ops.maxPool2d(x!, { kernel: 2 })), { h: 2 ** -9 });
    checkDerivatives([[2, 3, 4, 4]], ([x]) => readout(ops.globalAvgPool(x!)));
  });

  it('logSoftmax, cross-entropy with integer labels, mean squared error', () => {
    checkDerivatives([[4, 5]], ([x]) => readout(ops.logSoftmax(x!)));
    checkDerivatives([[4, 5]], ([x]) => ops.crossEntropy(x!, [0, 4, 2, 2]), { init: (rng, t) => rng.fillNormal(t, 0, 3) });
    const target = rnd([3, 4], 5).value;
    checkDerivatives([[3, 4]], ([x]) => ops.mse(ops.tanh(x!), target));
  });

  it("batch norm's per-channel affine map x·s + t, with every subset of its inputs varying", () => {
    checkDerivatives([[2, 3, 4, 5], [1, 3, 1, 1], [1, 3, 1, 1]], ([x, s, t]) => readout(ops.channelAffine(x!, s!, t!)));
    const s0 = rnd([1, 3, 1, 1], 5), t0 = rnd([1, 3, 1, 1], 6), x0 = rnd([2, 3, 4, 5], 7);
    checkDerivatives([[2, 3, 4, 5]], ([x]) => readout(ops.channelAffine(x!, s0, t0)));
    checkDerivatives([[1, 3, 1, 1], [1, 3, 1, 1]], ([s, t]) => readout(ops.channelAffine(x0, s!, t!)));
    checkDerivatives([[1, 3, 1, 1]], ([s]) => readout(ops.channelAffine(x0, s!, t0)));
    checkDerivatives([[1, 3, 1, 1]], ([t]) => readout(ops.channelAffine(x0, s0, t!)));
    checkDerivatives([[2, 3, 4, 5], [1, 3, 1, 1]], ([x, t]) => readout(ops.channelAffine(x!, s0, t!)));
  });

  it('the affine map with the ReLU after it fused in, with every subset of its inputs varying', () => {
    // |x·s| >= 0.25 and |t| <= 0.05: every value stays 0.2 from the kink, farther than a step moves it (4·2⁻⁸·|v|, |v| <= 4, in x, s and t)
    const nx = 2 * 3 * 4 * 5;
    const init = (rng: Rng, t: Float32Array) => {
      for (let i = 0; i < t.length; i++) {
        if (i < nx) t[i] = (rng.uniform() < 0.5 ? -1 : 1) * (0.5 + 0.5 * rng.uniform());
        else if (i < nx + 3) t[i] = 0.5 + rng.uniform();
        else t[i] = 0.1 * rng.uniform() - 0.05;
      }
    };
    const opts = { init, h: 2 ** -8 };
    checkDerivatives([[2, 3, 4, 5], [1, 3, 1, 1], [1, 3, 1, 1]], ([x, s, t]) => readout(ops.channelAffine(x!, s!, t!, true)), opts);
    const x0 = constant(new Tensor([2, 3, 4, 5], Float32Array.from({ length: nx }, (_, i) => (i % 3 ? 1 : -1) * (0.5 + (i % 6) / 10))));
    const s0 = constant(new Tensor([1, 3, 1, 1], Float32Array.of(0.7, 1.2, 0.9))), t0 = constant(new Tensor([1, 3, 1, 1], Float32Array.of(0.02, -0.03, 0)));
    checkDerivatives([[2, 3, 4, 5]], ([x]) => readout(ops.channelAffine(x!, s0, t0, true)), opts);
    checkDerivatives([[1, 3, 1, 1], [1, 3, 1, 1]], ([s, t]) => readout(ops.channelAffine(x0, s!, t!, true)), {
      h: 2 ** -8,
      init: (rng, t) => t.forEach((_, i) => (t[i] = i < 3 ? 0.5 + rng.uniform() : 0.1 * rng.uniform() - 0.05)),
    });
  });

  it('batch norm in train mode (batch statistics differentiated through) and eval mode', () => {
    const rm = new Tensor([3], Float32Array.of(0.1, -0.2, 0.3));
    const rv = new Tensor([3], Float32Array.of(1.2, 0.8, 1.5));
    for (const mode of ['train', 'eval'] as const) {
      checkDerivatives(
        [[4, 3, 3, 2], [3], [3]],
        ([x, w, b]) => readout(ops.batchNorm2d(x!, w!, b!, rm, rv, mode).output),
        {},
      );
    }
  });

  it('a small composition: conv → batch norm → relu → pool → linear → cross-entropy', () => {
    const x = rnd([3, 2, 6, 6], 11);
    const rm = new Tensor([4]), rv = new Tensor([4], new Float32Array(4).fill(1));
    checkDerivatives([[4, 2, 3, 3], [4], [4], [3, 4], [3]], ([w, g, b, fw, fb]) => {
      const h = ops.conv2d(x, w!, { padding: 1 });
      const n = ops.relu(ops.batchNorm2d(h, g!, b!, rm, rv, 'train').output);
      const logits = ops.linear(ops.globalAvgPool(n), fw!, fb!);
      return ops.crossEntropy(logits, [0, 2, 1]);
    }, { h: 2 ** -10, init: (rng, t) => rng.fillNormal(t, 0.5, 0.5) });
  });
});
