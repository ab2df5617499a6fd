import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { constant } from '../../src/autodiff/index.js';
import { loadModel } from '../../src/io/index.js';
import type { Model } from '../../src/nn/index.js';
import { GraphLayer, type OnnxDescription } from '../../src/nn/onnx/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';
import { i, shapeArithmeticGraph, tensorAttr, writeGraph } from '../helpers/onnxGraphs.js';
import { expected, fixtureBatch, onnxCase } from '../helpers/onnxFixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-onnx-folding-'));

// Shape arithmetic on a dynamic batch axis hangs off Shape(x): load-time folding cannot reach it,
// so the first pass with an input shape folds it and later passes with that shape run without it.

const SHAPE_OPS = ['Shape', 'Size', 'Cast', 'Not', 'Range', 'ConstantOfShape', 'Equal'];

function layerOf(model: Model): GraphLayer {
  expect(model.layer).toBeInstanceOf(GraphLayer);
  return model.layer as GraphLayer;
}

function logits(model: Model, x: Tensor, kind: 'float' | 'int'): Float32Array {
  return Float32Array.from(model.forward(model.blocks.map((b) => constant(model.param(b.name))), x, 'eval', kind).logits.value.data);
}

const opsOf = (nodes: readonly { op: string }[]) => nodes.map((n) => n.op);

/** the rows `rows` of a [N, ...rest] array */
function rowsOf(data: ArrayLike<number>, shape: readonly number[], rows: readonly number[]): number[] {
  const inner = shape.slice(1).reduce((p, d) => p * d, 1);
  return rows.flatMap((r) => Array.from({ length: inner }, (_, k) => data[r * inner + k]!));
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

describe('ONNX shape arithmetic folds per input shape', () => {
  it('the decoder: after the first pass no Shape, Cast, Not or Range node runs, and the logits stay those of PyTorch', async () => {
    const { file, onnxPath } = await onnxCase('decoder');
    const { model } = await loadModel(onnxPath);
    const { x } = fixtureBatch(file);
    const d = model.description as OnnxDescription;
    // the loaded graph still holds the shape arithmetic: what the plan removes is there to remove
    for (const op of ['Shape', 'Cast', 'Not', 'Range']) expect(opsOf(d.nodes)).toContain(op);
    const layer = layerOf(model);

    const first = logits(model, x, 'int');
    expect(layer.lastPassNodes).toBe(d.nodes.length);
    const plan = layer.planFor(x.shape)!;
    expect(plan).toBeDefined();
    for (const op of SHAPE_OPS) expect(opsOf(plan.nodes)).not.toContain(op);
    // the causal mask (a bool buffer) is folded with the shape arithmetic, and kept to check
    expect([...plan.buffers.keys()]).toContain('blocks.0.attn.mask');

    const second = logits(model, x, 'int');
    expect(layer.lastPassNodes).toBe(plan.nodes.length);
    expect(plan.nodes.length).toBeLessThan(d.nodes.length);
    expect(second).toEqual(first);
    expect(relErr(second, expected(file, 'expected.eval.logits')!)).toBeLessThan(1e-5);
  });

  it('the decoder: another batch size gets its own plan, with the logits of that input run alone and of PyTorch', async () => {
    const { file, onnxPath } = await onnxCase('decoder');
    const { model } = await loadModel(onnxPath);
    const { x } = fixtureBatch(file);
    const want = expected(file, 'expected.eval.logits')!;
    logits(model, x, 'int');
    logits(model, x, 'int');
    const layer = layerOf(model);
    for (const rows of [[1, 2], [2], [0, 1, 2, 0, 1]]) {
      const other = new Tensor([rows.length, 8], Float32Array.from(rowsOf(x.data, [3, 8], rows)));
      // (loading ran one sample as a probe, so a batch of 1 has its plan already)
      expect(layer.planFor(other.shape) === undefined).toBe(rows.length !== 1);
      const a = logits(model, other, 'int');
      if (rows.length !== 1) expect(layer.lastPassNodes).toBe((model.description as OnnxDescription).nodes.length);
      const b = logits(model, other, 'int');
      expect(layer.lastPassNodes).toBe(layer.planFor(other.shape)!.nodes.length);
      const alone = logits((await loadModel(onnxPath)).model, other, 'int');
      expect(a).toEqual(alone);
      expect(b).toEqual(alone);
      // eval mode: each row's logits are its own
      expect(relErr(b, rowsOf(want, [3, 8, 17], rows))).toBeLessThan(1e-5);
    }
    // the first shape's plan is still there and still right
    expect(relErr(logits(model, x, 'int'), want)).toBeLessThan(1e-5);
    expect(layer.lastPassNodes).toBe(layer.planFor(x.shape)!.nodes.length);
  });

  it('the decoder: a folded buffer changed since (a state dict loaded) is noticed and the graph planned again', async () => {
    const { file, onnxPath } = await onnxCase('decoder');
    const { model } = await loadModel(onnxPath);
    const { x } = fixtureBatch(file);
    const before = logits(model, x, 'int');
    logits(model, x, 'int');
    // an all-true mask: attention sees every position, the logits change
    for (const [name, t] of model.buffers) if (name.endsWith('attn.mask')) t.data.fill(1);
    const after = logits(model, x, 'int');
    expect((model.layer as GraphLayer).lastPassNodes).toBe((model.description as OnnxDescription).nodes.length);
    const fresh = (await loadModel(onnxPath)).model;
    for (const [name, t] of fresh.buffers) if (name.endsWith('attn.mask')) t.data.fill(1);
    const alone = logits(fresh, x, 'int');
    expect(after).toEqual(alone);
    expect(relErr(after, before)).toBeGreaterThan(1e-2);
    expect(logits(model, x, 'int')).toEqual(alone);
  });

  it('the ViT: no Shape, Cast, ConstantOfShape or Equal node after the first pass; a second batch size gives the rows of PyTorch', async () => {
    const { file, onnxPath } = await onnxCase('vit');
    const { model } = await loadModel(onnxPath);
    const { x } = fixtureBatch(file);
    const d = model.description as OnnxDescription;
    for (const op of ['Shape', 'ConstantOfShape', 'Equal']) expect(opsOf(d.nodes)).toContain(op);
    const want = expected(file, 'expected.eval.logits')!;
    const first = logits(model, x, 'float');
    const plan = (model.layer as GraphLayer).planFor(x.shape)!;
    for (const op of SHAPE_OPS) expect(opsOf(plan.nodes)).not.toContain(op);
    expect(logits(model, x, 'float')).toEqual(first);
    expect(relErr(first, want)).toBeLessThan(1e-5);

    const two = new Tensor([2, ...x.shape.slice(1)], Float32Array.from(rowsOf(x.data, x.shape, [3, 1])));
    logits(model, two, 'float');
    const b = logits(model, two, 'float');
    expect(b).toEqual(logits((await loadModel(onnxPath)).model, two, 'float'));
    expect(relErr(b, rowsOf(want, [4, 5], [3, 1]))).toBeLessThan(1e-5);
  });
});

describe('ONNX shape arithmetic on a small graph (its numbers checked against ONNX Runtime in onnx-operators.test.ts)', () => {
  const input = (n: number) => new Tensor([n, 3, 4], new Rng(n).fillUniform(new Float32Array(n * 12), -1, 1) as Float32Array);

  it('read from the input\'s shape: kept at load, folded on the first pass, and each batch size gets its own plan', async () => {
    const { model } = await loadModel(writeGraph(join(dir, 'from-input.onnx'), shapeArithmeticGraph(true)));
    const d = model.description as OnnxDescription;
    expect(opsOf(d.nodes)).toEqual(['Shape', 'Gather', 'Range', 'Cast', 'Equal', 'Not', 'ConstantOfShape', 'Mul', 'Where', 'Add']);
    const layer = layerOf(model);
    for (const n of [3, 5]) {
      const x = input(n);
      const first = logits(model, x, 'float');
      expect(layer.lastPassNodes).toBe(d.nodes.length);
      expect(opsOf(layer.planFor(x.shape)!.nodes)).toEqual(['Mul', 'Where', 'Add']);
      expect(logits(model, x, 'float')).toEqual(first);
      expect(layer.lastPassNodes).toBe(3);
      // the graph by hand: x·w where the position along the last axis is not 2, else 0.5; plus the position
      const w = model.param('w').data;
      const want = Array.from(x.data, (v, k) => (k % 4 === 2 ? 0.5 : v * w[k % 12]!) + (k % 4));
      expect(relErr(first, want)).toBeLessThan(1e-7);
    }
  });

  it('read from an initialiser\'s shape: folded when the file loads, with the same numbers', async () => {
    const { model } = await loadModel(writeGraph(join(dir, 'from-constant.onnx'), shapeArithmeticGraph(false)));
    expect(opsOf((model.description as OnnxDescription).nodes)).toEqual(['Mul', 'Where', 'Add']);
    const other = (await loadModel(writeGraph(join(dir, 'from-input-2.onnx'), shapeArithmeticGraph(true)))).model;
    const x = input(3);
    expect(logits(model, x, 'float')).toEqual(logits(other, x, 'float'));
  });

  it('a shape that depends on the input\'s values, not only its shape, is not folded', async () => {
    const int64s = (v: number[]) => tensorAttr('value', { dims: [v.length], type: 7, data: v });
    const path = writeGraph(join(dir, 'data-shape.onnx'), {
      opset: 17, input: { name: 'x', dims: ['n', 2] }, output: 'y',
      initializers: { w: { dims: [4], data: [1, 2, 3, 4] } },
      nodes: [
        { op: 'Constant', inputs: [], outputs: ['st'], attrs: [int64s([0])] },
        { op: 'Constant', inputs: [], outputs: ['en'], attrs: [int64s([1])] },
        { op: 'Constant', inputs: [], outputs: ['flat'], attrs: [int64s([2])] },
        { op: 'Constant', inputs: [], outputs: ['two'], attrs: [tensorAttr('value', { dims: [2], data: [2, 2] })] },
        { op: 'Slice', inputs: ['x', 'st', 'en', 'st'], outputs: ['x0'] },
        { op: 'Reshape', inputs: ['x0', 'flat'], outputs: ['x0f'] },
        // the first row of the data plus 2, as a shape for w (the load's probe, zeros, gives [2, 2])
        { op: 'Add', inputs: ['x0f', 'two'], outputs: ['d'] },
        { op: 'Cast', inputs: ['d'], outputs: ['dims'], attrs: [i('to', 7)] },
        { op: 'Reshape', inputs: ['w', 'dims'], outputs: ['rw'] },
        { op: 'Shape', inputs: ['rw'], outputs: ['rs'] },
        { op: 'Cast', inputs: ['rs'], outputs: ['rsf'], attrs: [i('to', 1)] },
        { op: 'Mul', inputs: ['x', 'rsf'], outputs: ['y'] },
      ],
    });
    const { model } = await loadModel(path);
    const layer = layerOf(model);
    for (const rows of [[0, 0, 1, 3], [2, -1, 1, 3], [-1, 2, 1, 3]]) {
      const x = new Tensor([2, 2], Float32Array.from(rows));
      // y = x · (the first row + 2), the shape w was given
      const want = rows.map((v, k) => v * (rows[k % 2]! + 2));
      expect(logits(model, x, 'float')).toEqual(Float32Array.from(want));
      expect(logits(model, x, 'float')).toEqual(Float32Array.from(want));
      expect(opsOf(layer.planFor([2, 2])!.nodes)).toContain('Shape');
    }
  });
});
