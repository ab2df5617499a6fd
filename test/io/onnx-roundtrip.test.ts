import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, saveModel } from '../../src/io/index.js';
import { lossAndGradient, secondOrder } from '../../src/nn/index.js';
import { decodeModelBlob, encodeModelBlob } from '../../src/parallel/modelBlob.js';
import { fixtureBatch, fixtureDirection, onnxCase } from '../helpers/onnxFixtures.js';

describe('an imported model travels as hesse models do', () => {
  it.each(['decoder', 'dwsep_cnn'])('%s: saved as safetensors and loaded again, and through a worker model blob, it computes the same', async (name) => {
    const { file, onnxPath } = await onnxCase(name);
    const { model } = await loadModel(onnxPath);
    const path = join(mkdtempSync(join(tmpdir(), 'hesse-onnx-save-')), 'model.safetensors');
    await saveModel(path, model);
    const again = (await loadModel(path)).model;
    const blob = encodeModelBlob(model);
    const worker = decodeModelBlob(blob.bytes, 'blob', blob.hash);
    const batch = fixtureBatch(file);
    const opts = { ignoreIndex: -100, bnMode: 'train' as const };
    const ref = lossAndGradient(model, batch, opts);
    const v = fixtureDirection(model.size);
    const hv = secondOrder(model, batch, opts).hvp(v);
    for (const m of [again, worker]) {
      expect(m.description).toEqual(model.description);
      expect([...m.theta]).toEqual([...model.theta]);
      const r = lossAndGradient(m, batch, opts);
      expect(r.loss).toBe(ref.loss);
      expect([...r.gradient]).toEqual([...ref.gradient]);
      expect([...secondOrder(m, batch, opts).hvp(v)]).toEqual([...hv]);
    }
  });
});

describe('per-layer groups of an imported model', () => {
  it('group by module prefix; a top-level tensor (a class token) is its own group', async () => {
    const { layerGroups } = await import('../../src/curvature/index.js');
    const { model } = await loadModel((await onnxCase('vit')).onnxPath);
    const names = layerGroups(model.blocks).map((g) => g.name);
    expect(names.slice(0, 5)).toEqual(['cls_token', 'pos_embedding', 'patch', 'block.ln1', 'block.attn.qkv']);
    expect(layerGroups(model.blocks).find((g) => g.name === 'block.attn.qkv')!.blocks.map((b) => b.name)).toEqual(['block.attn.qkv.weight', 'block.attn.qkv.bias']);
  });
});
