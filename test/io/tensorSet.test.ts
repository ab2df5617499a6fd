import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageDataset, TensorSet } from '../../src/data/index.js';
import { FileFormatError } from '../../src/errors.js';
import { loadModel, loadTensorData, loadTensorSet, writeSafetensors } from '../../src/io/index.js';
import { lossAndGradient } from '../../src/nn/index.js';
import { fixtureBatch, onnxCase } from '../helpers/onnxFixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-tensors-'));

describe('tensor sets: token sequences and regression targets from safetensors', () => {
  it('integer x (N, T) and token labels y (N, T) with −100 padding feed the imported language model', async () => {
    const { meta, file, onnxPath } = await onnxCase('decoder');
    const path = join(dir, 'tokens.safetensors');
    await writeSafetensors(path, { x: file.tensors.get('input.x')!, y: file.tensors.get('target.y')! }, { name: 'tokens' });
    const set = await loadTensorData(path);
    expect(set).toBeInstanceOf(TensorSet);
    const tokens = set as TensorSet;
    expect([tokens.length, tokens.xKind, tokens.sampleShape, tokens.targetShape]).toEqual([3, 'int', [8], [8]]);
    const batch = tokens.first(3);
    const reference = fixtureBatch(file);
    expect([...batch.x.data]).toEqual([...reference.x.data]);
    expect([...batch.y]).toEqual([...reference.y]);
    expect(batch.yShape).toEqual([3, 8]);
    const { model } = await loadModel(onnxPath);
    const r = lossAndGradient(model, batch, { ignoreIndex: -100 });
    expect(Math.abs(r.loss - meta.modes.eval!.loss) / meta.modes.eval!.loss).toBeLessThan(1e-5);
    // batches in order, the last one smaller, and a shard that remembers where it came from
    expect([...tokens.batches(2).batches()].map((b) => b.x.shape[0])).toEqual([2, 1]);
    const shard = tokens.subset(1, 3);
    expect([...shard.get([0]).x.data]).toEqual([...batch.x.data.subarray(8, 16)]);
    expect(shard.spec?.range).toEqual([1, 3]);
  });

  it('float x and float y (N, 3) are regression data; images with labels stay an image dataset', async () => {
    const { file } = await onnxCase('mlp_regression');
    const path = join(dir, 'regression.safetensors');
    await writeSafetensors(path, { x: file.tensors.get('input.x')!, y: file.tensors.get('target.y')! });
    const set = await loadTensorSet(path);
    const b = set.first(8);
    expect(b.y).toBeInstanceOf(Float32Array);
    expect(b.yShape).toEqual([8, 3]);
    expect(b.xKind).toBe('float');
    const images = join(dir, 'images.safetensors');
    await writeSafetensors(images, { x: { shape: [2, 1, 2, 2], data: new Float32Array(8) }, y: { dtype: 'I64', shape: [2], data: BigInt64Array.of(0n, 1n) } });
    expect(await loadTensorData(images)).toBeInstanceOf(ImageDataset);
  });

  it('bad files: a missing key, disagreeing sample counts, ids too large for float32', async () => {
    const p1 = join(dir, 'nox.safetensors');
    await writeSafetensors(p1, { y: { shape: [2], data: Float32Array.of(1, 2) } });
    await expect(loadTensorSet(p1)).rejects.toThrow(/no tensor 'x'.*tensors found: y/);
    const p2 = join(dir, 'counts.safetensors');
    await writeSafetensors(p2, { x: { shape: [3, 2], data: new Float32Array(6) }, y: { shape: [2], data: new Float32Array(2) } });
    await expect(loadTensorSet(p2)).rejects.toThrow(/'x' has 3 samples but 'y' has shape \[2\]/);
    const p3 = join(dir, 'ids.safetensors');
    await writeSafetensors(p3, { x: { dtype: 'I64', shape: [1, 2], data: BigInt64Array.of(1n, 20000000n) }, y: { dtype: 'I64', shape: [1], data: BigInt64Array.of(0n) } });
    const e = await loadTensorSet(p3).catch((x: Error) => x);
    expect(e).toBeInstanceOf(FileFormatError);
    expect((e as Error).message).toMatch(/value 20000000 at index 1/);
  });
});
