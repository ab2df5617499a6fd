import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/api/analyze.js';
import { openModelAndData } from '../../src/api/modelAndData.js';
import { curvatureOperator, hessianOperator, inProcessExecutor, planShards, selectBlocks, type ExecutorFactory } from '../../src/curvature/index.js';
import { TensorSet } from '../../src/data/index.js';
import { writeSafetensors } from '../../src/io/index.js';
import type { ObjectiveOptions } from '../../src/nn/index.js';
import { threadExecutor } from '../../src/parallel/index.js';
import { Rng } from '../../src/tensor/index.js';
import { relativeError } from '../helpers/fixtures.js';
import { ggnByDifferences } from '../helpers/ggnDifferences.js';
import { expected, fixtureBatch, onnxCase } from '../helpers/onnxFixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-any-model-'));

/** The fixture's inputs and targets as the data file a user brings (x, y), and the ONNX file beside it. */
async function fixtureFiles(name: string) {
  const c = await onnxCase(name);
  const data = join(dir, `${name}-data.safetensors`);
  await writeSafetensors(data, { x: c.file.tensors.get('input.x')!, y: c.file.tensors.get('target.y')! });
  return { ...c, data };
}

/** Top-1 accuracy of PyTorch's logits against the labels, leaving out the ignored ones: an oracle that is not hesse's. */
function referenceAccuracy(logits: Float64Array, labels: ArrayLike<number>, classes: number, ignore?: number): number {
  let correct = 0, counted = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === ignore) continue;
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c]! > logits[i * classes + best]!) best = c;
    counted++;
    if (best === labels[i]) correct++;
  }
  return correct / counted;
}

const CASES: [string, ObjectiveOptions][] = [
  ['decoder', { ignoreIndex: -100 }],
  ['mlp_regression', { loss: 'mse' }],
  ['vit', {}],
  ['dwsep_cnn', {}],
];

describe('analyze on imported models and the data files beside them', () => {
  it.each(CASES)("%s: the parameter count, the loss and accuracy at the fixture's weights and the top eigenvalue are PyTorch's", async (name, objective) => {
    const { meta, file, onnxPath, data } = await fixtureFiles(name);
    const opened = await openModelAndData({ model: onnxPath, data });
    const batch = fixtureBatch(file);
    const n = batch.x.shape[0]!;
    const { results } = await analyze({ ...opened, batch: n, curvature: objective, eigen: { k: 1 }, seed: 1 });
    expect(results.inputs.model.parameters).toBe(meta.n_params);
    expect(results.inputs.samples.hessian).toBe(n);
    expect(results.options.loss).toBe(objective.loss ?? 'cross-entropy');
    expect(results.options.ignoreIndex).toBe(objective.ignoreIndex);
    const ev = results.results.evaluation!;
    expect(ev.samples).toBe(n);
    expect(Math.abs(ev.loss - meta.modes.eval!.loss) / meta.modes.eval!.loss).toBeLessThan(1e-5);
    const logits = expected(file, 'expected.eval.logits')!;
    if (batch.y instanceof Float32Array) expect(ev.accuracy).toBeUndefined();
    else expect(ev.accuracy).toBeCloseTo(referenceAccuracy(logits, batch.y, logits.length / batch.y.length, objective.ignoreIndex), 12);
    const top = meta.modes.eval!.top_eigenvalue!;
    expect(Math.abs(results.results.eigen!.values[0]! - top) / top).toBeLessThan(1e-5);
  });

  it('BN in train mode: the loss with batch statistics is PyTorch train-mode loss', async () => {
    const { meta, file, onnxPath, data } = await fixtureFiles('dwsep_cnn');
    const opened = await openModelAndData({ model: onnxPath, data });
    const notes: string[] = [];
    const { results } = await analyze({ ...opened, batch: fixtureBatch(file).x.shape[0]!, curvature: { bnMode: 'train' }, trace: { products: 4 }, onNote: (l) => notes.push(l) });
    expect(results.options.bnMode).toBe('train');
    expect(Math.abs(results.results.evaluation!.loss - meta.modes.train!.loss) / meta.modes.train!.loss).toBeLessThan(1e-5);
    expect(Math.abs(meta.modes.train!.loss - meta.modes.eval!.loss)).toBeGreaterThan(0.1);
    // the graph has BN: nothing to warn about
    expect(notes).toEqual([]);
  });

  it.each([
    ['decoder', { ignoreIndex: -100 }],
    ['mlp_regression', { loss: 'mse' }],
    ['vit', {}],
  ] as [string, ObjectiveOptions][])("%s: the GGN's top eigenpair is one of Jᵀ H_L J built from differences, and not the Hessian's", async (name, objective) => {
    const { file, onnxPath, data } = await fixtureFiles(name);
    const opened = await openModelAndData({ model: onnxPath, data });
    const batch = fixtureBatch(file);
    const n = batch.x.shape[0]!;
    const ggn = await analyze({ ...opened, batch: n, curvature: { ...objective, kind: 'ggn' }, eigen: { k: 1 }, seed: 1 });
    expect(ggn.results.options.curvature).toBe('ggn');
    const lambda = ggn.results.results.eigen!.values[0]!;
    const v = ggn.eigenvectors[0]!;
    // scaled so that h·v is well above the weights' rounding in the differences
    let largest = 0;
    for (const x of v) largest = Math.max(largest, Math.abs(x));
    const w = v.map((x) => x / largest);
    const Gw = ggnByDifferences(opened.model, batch, objective, w);
    // what Lanczos left (its residual, for a unit vector) plus the differences' own error (2e-6..1.6e-5, test/nn/losses)
    const residual = ggn.results.results.eigen!.residuals![0]! / lambda;
    expect(relativeError(Gw, Float64Array.from(w, (x) => lambda * x))).toBeLessThan(residual + 3e-5);
    const hessian = await analyze({ ...opened, batch: n, curvature: objective, eigen: { k: 1 }, seed: 1 });
    expect(Math.abs(hessian.results.results.eigen!.values[0]! - lambda) / lambda).toBeGreaterThan(1e-3);
  });
});

describe('per-layer results of imported models', () => {
  it('group by the ONNX names (module prefixes), and each layer trace lies within its error bar of the exact block trace', async () => {
    const { meta, file, onnxPath, data } = await fixtureFiles('mlp_regression');
    const opened = await openModelAndData({ model: onnxPath, data });
    const batch = fixtureBatch(file);
    const { results } = await analyze({ ...opened, batch: batch.x.shape[0]!, curvature: { loss: 'mse' }, perLayer: { probes: 200 }, seed: 3 });
    const layers = results.results.perLayer!;
    expect(layers.map((l) => l.name)).toEqual(['fc1', 'fc2', 'fc3']);
    expect(layers.reduce((s, l) => s + l.parameters, 0)).toBe(meta.n_params);
    // the exact trace of each diagonal block: Σ e_iᵀ H e_i over its coordinates
    const H = hessianOperator(opened.model, batch, { loss: 'mse' });
    for (const layer of layers) {
      const blocks = selectBlocks(opened.model.blocks, layer.name);
      const units = blocks.flatMap((b) => Array.from({ length: b.length }, (_, i) => b.offset + i));
      const products = await H.matmat!(units.map((u) => Float32Array.from({ length: H.size }, (_, i) => (i === u ? 1 : 0))));
      const exact = units.reduce((sum, u, j) => sum + products[j]![u]!, 0);
      expect(Math.abs(layer.trace! - exact), layer.name).toBeLessThan(4 * layer.traceStdErr!);
      // and the bar is tight enough to mean something (measured 0.08-0.28 against traces of 0.5-5.5)
      expect(layer.traceStdErr!).toBeLessThan(0.3 * Math.abs(exact));
    }
  });

  it('the decoder: one row per module, named as in PyTorch', async () => {
    const { meta, onnxPath, data } = await fixtureFiles('decoder');
    const opened = await openModelAndData({ model: onnxPath, data });
    const { results } = await analyze({ ...opened, batch: 3, curvature: { ignoreIndex: -100 }, perLayer: { probes: 2 } });
    const modules = [...new Set(meta.param_order.map((n) => n.slice(0, n.lastIndexOf('.'))))];
    expect(results.results.perLayer!.map((l) => l.name)).toEqual(modules);
    expect(results.results.perLayer!.find((l) => l.name === 'tok')!.parameters).toBe(opened.model.param('tok.weight').size);
  });
});

const PLACES: [string, ExecutorFactory][] = [
  ['this thread', inProcessExecutor],
  ['two worker threads', (p) => threadExecutor(p, { workers: 2 })],
];

describe('imported models on tensor data, wherever the products run', () => {
  it.each([
    ['decoder', { ignoreIndex: -100, kind: 'hessian' }, 1],
    ['mlp_regression', { loss: 'mse', kind: 'ggn' }, 2],
  ] as const)('%s: worker threads rebuild the graph from its blob and give this thread\'s products and losses to the last bit', async (name, curvature, batchSize) => {
    const { onnxPath, data } = await fixtureFiles(name);
    const { model, dataset } = await openModelAndData({ model: onnxPath, data });
    expect(dataset).toBeInstanceOf(TensorSet);
    const plan = planShards(dataset.length, { batchSize, shards: 2 });
    expect(plan.shards).toHaveLength(2);
    const rng = new Rng(3);
    const vs = [0, 1].map(() => rng.fillNormal(new Float32Array(model.size)) as Float32Array);
    const got: { products: Float32Array[]; loss: number; accuracy: number }[] = [];
    for (const [, place] of PLACES) {
      const op = await curvatureOperator(model, { dataset, normalize: null, plan }, { place, ...curvature });
      try {
        const losses = await op.executor.losses();
        got.push({ products: await op.matmat!(vs), loss: losses.loss, accuracy: losses.accuracy });
      } finally {
        await op.close();
      }
    }
    const [here, threads] = got as [(typeof got)[0], (typeof got)[0]];
    here.products.forEach((p, j) => expect(Array.from(threads.products[j]!)).toEqual(Array.from(p)));
    expect(threads.loss).toBe(here.loss);
    expect(Object.is(threads.accuracy, here.accuracy)).toBe(true);
    expect(here.products[0]!.some((x) => x !== 0)).toBe(true);
  });
});
