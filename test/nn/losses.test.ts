import { describe, expect, it } from 'vitest';
import { constant } from '../../src/autodiff/index.js';
import { loadModel } from '../../src/io/index.js';
import { lossOf, secondOrder, type Batch } from '../../src/nn/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';
import { checkDerivatives } from '../helpers/derivatives.js';
import { ggnByDifferences } from '../helpers/ggnDifferences.js';
import { relativeError } from '../helpers/fixtures.js';
import { fixtureBatch, onnxCase } from '../helpers/onnxFixtures.js';

const labels = (n: number, classes: number, seed: number) => Int32Array.from({ length: n }, (_, i) => new Rng(seed + i).int(classes));

describe('losses: value, gradient and Hessian with respect to the outputs, against central differences', () => {
  it('cross-entropy over class labels', () => {
    const batch: Batch = { x: new Tensor([5, 1]), y: labels(5, 4, 1) };
    checkDerivatives([[5, 4]], ([z]) => lossOf(z!, batch), { init: (rng, t) => rng.fillNormal(t, 0, 2) });
  });

  it('token-level cross-entropy over [N, T, V] outputs, padding left out by ignoreIndex', () => {
    const y = labels(6, 5, 2);
    y[1] = -100;
    y[4] = -100;
    const batch: Batch = { x: new Tensor([2, 3]), y, yShape: [2, 3] };
    checkDerivatives([[2, 3, 5]], ([z]) => lossOf(z!, batch, { ignoreIndex: -100 }), { init: (rng, t) => rng.fillNormal(t, 0, 2) });
  });

  it('token-level cross-entropy is the mean over the targets that count', () => {
    const y = Int32Array.of(0, -100, 2, 1);
    const z = new Tensor([1, 4, 3], Float32Array.from({ length: 12 }, (_, i) => Math.sin(i)));
    const loss = lossOf(constant(z), { x: new Tensor([1, 4]), y, yShape: [1, 4] }, { ignoreIndex: -100 }).value.data[0]!;
    let expected = 0;
    for (const t of [0, 2, 3]) {
      const row = [0, 1, 2].map((c) => Math.sin(t * 3 + c));
      const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
      expected += lse - row[y[t]!]!;
    }
    expect(loss).toBeCloseTo(expected / 3, 6);
  });

  it('mean squared error against float targets of the output shape, and against one-hot labels', () => {
    const target = new Float32Array(12).map((_, i) => Math.cos(i));
    const regression: Batch = { x: new Tensor([4, 1]), y: target, yShape: [4, 3] };
    checkDerivatives([[4, 3]], ([z]) => lossOf(z!, regression, { loss: 'mse' }));
    const onehot: Batch = { x: new Tensor([4, 1]), y: labels(4, 3, 3) };
    checkDerivatives([[4, 3]], ([z]) => lossOf(z!, onehot, { loss: 'mse' }));
  });
});

// measured: 2e-6 (regression), 1.1e-5 (decoder), 1.6e-5 (ViT) at h = 2^-7
describe('the GGN of imported models for each loss against Jᵀ H_L J built from differences', () => {
  it.each([
    ['mlp_regression', { loss: 'mse' }],
    ['decoder', { ignoreIndex: -100 }],
    ['vit', {}],
  ] as const)('%s', async (name, opts) => {
    const { file, onnxPath } = await onnxCase(name);
    const { model } = await loadModel(onnxPath);
    const batch = fixtureBatch(file);
    const v = new Rng(5).fillNormal(new Float32Array(model.size)) as Float32Array;
    for (let i = 0; i < v.length; i++) v[i] = Math.round(v[i]! * 16) / 16;
    const ggn = secondOrder(model, batch, opts).ggnBlock([v])[0]!;
    expect(relativeError(ggn, ggnByDifferences(model, batch, opts, v))).toBeLessThan(1e-4);
  });
});
