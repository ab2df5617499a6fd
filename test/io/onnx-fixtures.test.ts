import { describe, expect, it } from 'vitest';
import { hessianOperator } from '../../src/curvature/index.js';
import { loadModel } from '../../src/io/index.js';
import { lanczosEigs } from '../../src/linalg/index.js';
import { lossAndGradient, secondOrder, type ObjectiveOptions } from '../../src/nn/index.js';
import { fixtureBatch, fixtureDirection, onnxCase, onnxIndex, relativeErrorTo } from '../helpers/onnxFixtures.js';

/** The loss each fixture was made with (see scripts/fixtures/make_onnx_fixtures.py). */
function lossOptions(name: string): ObjectiveOptions {
  if (name === 'mlp_regression') return { loss: 'mse' };
  if (name === 'decoder') return { loss: 'cross-entropy', ignoreIndex: -100 };
  return { loss: 'cross-entropy' };
}

// float32 arithmetic against PyTorch's float64: the errors measured are 1e-8..2e-6
const TOL = 1e-5;

describe.each(Object.keys(onnxIndex.cases))('ONNX fixture %s (exported from PyTorch, float64 expectations)', (name) => {
  it('imports the trainable tensors, in graph order, as the parameters', async () => {
    const { meta, onnxPath } = await onnxCase(name);
    const { model } = await loadModel(onnxPath);
    expect(model.blocks.map((b) => b.name)).toEqual(meta.param_order);
    expect(model.size).toBe(meta.n_params);
    expect(model.hasBatchNorm).toBe(meta.ops.includes('BatchNormalization'));
  });

  it.each(Object.keys(onnxIndex.cases[name]!.modes))('BN mode %s: logits, loss, gradient and H·v within 1e-5', async (mode) => {
    const { meta, file, onnxPath } = await onnxCase(name);
    const { model } = await loadModel(onnxPath);
    const batch = fixtureBatch(file);
    const opts = { ...lossOptions(name), bnMode: mode as 'eval' | 'train' };
    const r = lossAndGradient(model, batch, opts);
    expect(relativeErrorTo(r.logits.data, file, `expected.${mode}.logits`)).toBeLessThan(TOL);
    expect(Math.abs(r.loss - meta.modes[mode]!.loss) / Math.abs(meta.modes[mode]!.loss)).toBeLessThan(TOL);
    expect(relativeErrorTo(r.gradient, file, `expected.${mode}.grad`)).toBeLessThan(TOL);
    const hv = secondOrder(model, batch, opts).hvp(fixtureDirection(model.size));
    expect(relativeErrorTo(hv, file, `expected.${mode}.hvp`)).toBeLessThan(TOL);
  });

  it('top Hessian eigenvalue (Lanczos) within 1e-5 of the dense or float64 Lanczos value', async () => {
    const { meta, file, onnxPath } = await onnxCase(name);
    const [mode, m] = Object.entries(meta.modes)[0]!;
    const { model } = await loadModel(onnxPath);
    const op = hessianOperator(model, fixtureBatch(file), { ...lossOptions(name), bnMode: mode as 'eval' });
    const { eigenvalues } = await lanczosEigs(op, { k: 1, tol: 1e-6, seed: 1 });
    expect(Math.abs(eigenvalues[0]! - m.top_eigenvalue!) / Math.abs(m.top_eigenvalue!)).toBeLessThan(TOL);
  });
});
