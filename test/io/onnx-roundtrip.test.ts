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

  it('the decoder groups by module as PyTorch names them; selectors pick layer norms, embeddings, linear weights and a block by prefix', async () => {
    const { layerGroups, selectBlocks } = await import('../../src/curvature/index.js');
    const { meta, onnxPath } = await onnxCase('decoder');
    const { model } = await loadModel(onnxPath);
    // the module of each parameter is its PyTorch name without the last component
    const modules = [...new Set(meta.param_order.map((n) => n.slice(0, n.lastIndexOf('.'))))];
    expect(layerGroups(model.blocks).map((g) => g.name)).toEqual(modules);
    expect(modules).toContain('blocks.1.attn.qkv');
    const names = (sel: string) => selectBlocks(model.blocks, sel).map((b) => b.name);
    expect(names('ln')).toEqual(meta.param_order.filter((n) => /(^|\.)ln(\d|_f)\.(weight|bias)$/.test(n)));
    expect(names('embedding')).toEqual(['tok.weight', 'pos.weight']);
    expect(names('weights')).toEqual(meta.param_order.filter((n) => /(qkv|proj|mlp\.\d|head)\.weight$/.test(n)));
    expect(names('blocks.1.attn')).toEqual(['blocks.1.attn.qkv.weight', 'blocks.1.attn.qkv.bias', 'blocks.1.attn.proj.weight', 'blocks.1.attn.proj.bias']);
    expect(() => selectBlocks(model.blocks, 'blocks.2')).toThrow(/no parameters match 'blocks\.2' .*ln, embedding/);
  });

  it("the ViT: its layer norms by kind, and its final norm, a module named 'ln', by a pattern", async () => {
    const { selectBlocks } = await import('../../src/curvature/index.js');
    const { model } = await loadModel((await onnxCase('vit')).onnxPath);
    const names = (sel: string) => selectBlocks(model.blocks, sel).map((b) => b.name);
    expect(names('ln')).toEqual(['block.ln1.weight', 'block.ln1.bias', 'block.ln2.weight', 'block.ln2.bias', 'ln.weight', 'ln.bias']);
    expect(names('ln.*')).toEqual(['ln.weight', 'ln.bias']);
    expect(names('cls_token')).toEqual(['cls_token']);
    expect(() => selectBlocks(model.blocks, 'embedding')).toThrow(/no parameters match 'embedding'/);
  });
});
