import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileFormatError } from '../../src/errors.js';
import { inferDescription, loadModel, loadStateDict, saveModel, stateDict } from '../../src/io/checkpoint.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { mlp, resnet } from '../../src/nn/index.js';
import { Rng } from '../../src/tensor/index.js';
import { loadCase } from '../helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-ckpt-'));

describe('checkpoints', () => {
  it('save then load round-trips bit for bit, and the description travels in the metadata', async () => {
    const m = resnet({ depth: 8, width: 4, batchNorm: { stem: true, stages: [false, true, true] }, residual: true, seed: 3 });
    new Rng(9).fillNormal(m.buffers.get('layer2.0.bn1.running_mean')!.data);
    m.batchesTracked = 17;
    const path = join(dir, 'a.safetensors');
    await saveModel(path, m);
    const { model } = await loadModel(path);
    expect(model.description).toEqual(m.description);
    expect(Buffer.from(model.theta.buffer).equals(Buffer.from(m.theta.buffer))).toBe(true);
    expect(model.buffers.get('layer2.0.bn1.running_mean')!.data).toEqual(m.buffers.get('layer2.0.bn1.running_mean')!.data);
    expect(model.batchesTracked).toBe(17);
    const path2 = join(dir, 'b.safetensors');
    await saveModel(path2, model);
    expect(readFileSync(path2).equals(readFileSync(path))).toBe(true);
  });

  it('refuses a file with missing, extra and wrongly shaped keys, naming every one', async () => {
    const m = resnet({ depth: 8, width: 4 });
    const sd = stateDict(m);
    delete sd['layer1.0.conv2.weight'];
    delete sd['fc.bias'];
    sd['extra.weight'] = { dtype: 'F32', shape: [2], data: new Float32Array(2) };
    sd['layer3.0.bn1.weight'] = { dtype: 'F32', shape: [3], data: new Float32Array(3) };
    const path = join(dir, 'bad.safetensors');
    await writeSafetensors(path, sd);
    const file = await readSafetensors(path);
    let err: unknown;
    try {
      loadStateDict(resnet({ depth: 8, width: 4 }), file.tensors, path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FileFormatError);
    const msg = (err as Error).message;
    for (const k of ['layer1.0.conv2.weight', 'fc.bias', 'extra.weight', 'layer3.0.bn1.weight', path]) expect(msg).toContain(k);
  });

  it('infers the architecture of a PyTorch file without metadata from names and shapes', async () => {
    for (const name of ['resnet8w2_bn_res_eval', 'resnet8w2_nobn_nores_eval', 'resnet20w4_bn_res_eval']) {
      const { file } = await loadCase(name);
      const { description } = inferDescription(file.tensors, name);
      const [, depth, width] = /^resnet(\d+)(?:w(\d+))?/.exec(name)!;
      expect(description).toEqual({
        arch: 'resnet',
        depth: Number(depth),
        width: width ? Number(width) : 16,
        classes: 10,
        batchNorm: name.includes('_bn_'),
        residual: name.includes('_res_'),
      });
    }
    const per = resnet({ depth: 14, width: 2, batchNorm: { stem: false, stages: [true, false, false] } });
    const path = join(dir, 'per-stage.safetensors');
    await writeSafetensors(path, stateDict(per));
    const { model, notes } = await loadModel(path);
    expect(model.description).toEqual(per.description);
    expect(notes.join(' ')).toMatch(/inferred ResNet-14/);
    const m = mlp({ sizes: [6, 8, 5, 3] });
    const p2 = join(dir, 'mlp.safetensors');
    await writeSafetensors(p2, stateDict(m));
    const loaded = await loadModel(p2);
    expect(loaded.model.description).toEqual({ arch: 'mlp', sizes: [6, 8, 5, 3], activation: 'relu' });
    expect(loaded.notes.join(' ')).toMatch(/ReLU is assumed/);
  });
});

describe('metadata that cannot be trusted', () => {
  /** A valid MLP state dict with the given metadata. */
  async function fileWith(name: string, metadata: Record<string, string>): Promise<string> {
    const path = join(dir, `${name}.safetensors`);
    await writeSafetensors(path, stateDict(mlp({ sizes: [4, 3, 2] })), metadata);
    return path;
  }

  async function loadError(path: string): Promise<Error> {
    return loadModel(path).then(
      () => {
        throw new Error('expected the load to fail');
      },
      (e: unknown) => e as Error,
    );
  }

  const badModels: [string, string, RegExp][] = [
    ['not JSON', '{"arch": "mlp", ', /not valid JSON/],
    ['sizes of the wrong type', '{"arch": "mlp", "sizes": "abc", "activation": "relu"}', /sizes.*'abc'/],
    ['a size that is not a number', '{"arch": "mlp", "sizes": [4, null, 2], "activation": "relu"}', /sizes.*\[4,null,2\]/],
    ['an unknown activation', '{"arch": "mlp", "sizes": [4, 3, 2], "activation": "swish"}', /activation 'swish'/],
    ['a depth too large to hold', '{"arch": "resnet", "depth": 60002, "width": 16, "classes": 10, "batchNorm": true, "residual": true}', /972,140,826 parameters/],
    ['a width too large to hold', '{"arch": "resnet", "depth": 8, "width": 1000000, "classes": 10, "batchNorm": true, "residual": true}', /parameters, more than/],
    ['a JSON array', '[1]', /must be a JSON object/],
  ];
  for (const [what, json, problem] of badModels) {
    it(`refuses a hesse.model description with ${what}, naming the file and the key`, async () => {
      const path = await fileWith(`model-${what.replace(/\W+/g, '-')}`, { 'hesse.model': json });
      const err = await loadError(path);
      expect(err).toBeInstanceOf(FileFormatError);
      expect(err.message).toContain(path);
      expect(err.message).toContain('hesse.model');
      expect(err.message).toMatch(problem);
      expect(err.message.split('\n')).toHaveLength(1);
    });
  }

  const badNormalizations: [string, string, RegExp][] = [
    ['not JSON', '{mean: [0.5]}', /not valid JSON/],
    ['a number', '3', /normalisation 3 must be null or/],
    ['a mean that is not a list', '{"mean": 0.5, "std": [0.2]}', /mean 0\.5/],
    ['a std that is missing', '{"mean": [0.5]}', /std is missing/],
    ['strings for numbers', '{"mean": ["0.5"], "std": [0.2]}', /mean \["0\.5"\]/],
    ['a zero std', '{"mean": [0.5], "std": [0]}', /std 0 must be a positive number/],
    ['as many means as stds but not per channel', '{"mean": [0.5, 0.4], "std": [0.2]}', /2 means and 1 stds/],
    ['an unknown key', '{"mean": [0.5], "std": [0.2], "scale": 2}', /unknown key 'scale'/],
  ];
  for (const [what, json, problem] of badNormalizations) {
    it(`refuses a hesse.normalization that is ${what}, naming the file and the key`, async () => {
      const path = await fileWith(`norm-${what.replace(/\W+/g, '-')}`, { 'hesse.normalization': json });
      const err = await loadError(path);
      expect(err).toBeInstanceOf(FileFormatError);
      expect(err.message).toContain(path);
      expect(err.message).toContain('hesse.normalization');
      expect(err.message).toMatch(problem);
    });
  }

  it('reads a normalisation that is valid, and null for raw pixels', async () => {
    const stored = { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.201] };
    expect((await loadModel(await fileWith('norm-good', { 'hesse.normalization': JSON.stringify(stored) }))).normalization).toEqual(stored);
    expect((await loadModel(await fileWith('norm-null', { 'hesse.normalization': 'null' }))).normalization).toBeNull();
    expect((await loadModel(await fileWith('norm-none', {}))).normalization).toBeUndefined();
  });
});
