import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileFormatError } from '../../src/errors.js';
import { synthetic } from '../../src/data/index.js';
import { loadTensorDataset, saveTensorDataset, writeSafetensors, type TensorToWrite } from '../../src/io/index.js';
import { rejection } from '../data/rejection.js';


let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hesse-tensords-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Promise<string> {
  const path = join(dir, `${name}.safetensors`);
  await writeSafetensors(path, tensors, metadata);
  return path;
}

describe('loadTensorDataset', () => {
  it('reads float32 images with int64 labels; classes from the largest label', async () => {
    const x = Float32Array.from({ length: 3 * 2 * 4 * 4 }, (_, i) => i / 7 - 3);
    const path = await write('f32', { x: { shape: [3, 2, 4, 4], data: x }, y: { dtype: 'I64', shape: [3], data: [4, 0, 2] } });
    const ds = await loadTensorDataset(path);
    expect([ds.length, ds.channels, ds.height, ds.width, ds.classes]).toEqual([3, 2, 4, 4, 5]);
    expect(ds.name).toBe('f32');
    expect(Array.from(ds.get([2, 0]).x.data)).toEqual([...Array.from(x.subarray(64, 96)), ...Array.from(x.subarray(0, 32))]);
    expect(Array.from(ds.labels())).toEqual([4, 0, 2]);
  });

  it('reads 8-bit images scaled to [0, 1], I32 or U8 labels, and classes from metadata', async () => {
    const x = Uint8Array.from({ length: 2 * 1 * 2 * 2 }, (_, i) => i * 30);
    const path = await write('u8', { x: { shape: [2, 1, 2, 2], data: x }, y: { shape: [2], data: Uint8Array.of(1, 1) } }, { classes: '10' });
    const ds = await loadTensorDataset(path);
    expect(ds.classes).toBe(10);
    expect(Array.from(ds.get([1]).x.data)).toEqual([120, 150, 180, 210].map((v) => Math.fround(v / 255)));
    const p32 = await write('i32', { x: { shape: [2, 1, 2, 2], data: x }, y: { shape: [2], data: Int32Array.of(0, 3) } });
    expect((await loadTensorDataset(p32)).classes).toBe(4);
  });

  it('round-trips a dataset written by saveTensorDataset', async () => {
    const syn = synthetic({ n: 50, seed: 4 });
    const path = join(dir, 'syn.safetensors');
    await saveTensorDataset(path, syn);
    const back = await loadTensorDataset(path);
    expect(back.name).toBe('synthetic-train');
    expect(back.classes).toBe(10);
    expect(Buffer.from(back.pixels).equals(Buffer.from(syn.pixels))).toBe(true);
    expect(Array.from(back.labels())).toEqual(Array.from(syn.labels()));
  });

  const x4 = { shape: [2, 1, 1, 1], data: Float32Array.of(0, 1) };
  const bad: [string, Record<string, TensorToWrite>, Record<string, string> | undefined, RegExp][] = [
    ['missing x', { images: x4, y: { shape: [2], data: Int32Array.of(0, 1) } }, undefined, /no tensor 'x' \(images, N x C x H x W\); tensors found: images, y/],
    ['missing y', { x: x4 }, undefined, /no tensor 'y' \(labels, N\); tensors found: x/],
    ['rank', { x: { shape: [2, 3], data: new Float32Array(6) }, y: { shape: [2], data: Int32Array.of(0, 1) } }, undefined, /'x' has shape \[2, 3\]; images need 4 dimensions \(N, C, H, W\)/],
    ['label rank', { x: x4, y: { shape: [2, 1], data: Int32Array.of(0, 1) } }, undefined, /'y' has shape \[2, 1\]; labels need 1 dimension/],
    ['N mismatch', { x: x4, y: { shape: [3], data: Int32Array.of(0, 1, 1) } }, undefined, /'x' has 2 images but 'y' has 3 labels/],
    ['negative label', { x: x4, y: { dtype: 'I64', shape: [2], data: [0, -1] } }, undefined, /'y': value -1 at index 1 is not a class label/],
    ['float labels', { x: x4, y: { shape: [2], data: Float32Array.of(0, 1) } }, undefined, /'y' has dtype F32; integer labels \(I64, I32 or U8\) are needed/],
    ['integer images', { x: { shape: [2, 1, 1, 1], data: Int32Array.of(0, 1) }, y: { shape: [2], data: Int32Array.of(0, 1) } }, undefined, /'x' has dtype I32; a floating-point tensor \(F32 or F64\) is needed \(or U8 pixels\)/],
    ['label beyond metadata classes', { x: x4, y: { shape: [2], data: Int32Array.of(0, 5) } }, { classes: '3' }, /label 5 is outside the 3 classes its metadata declares/],
    // a label of 2^31 - 1 would make 2^31 classes: gigabytes for per-class tables and the model's head
    ['the largest int32 label', { x: x4, y: { dtype: 'I64', shape: [2], data: [0, 2147483647] } }, undefined, /'y' holds label 2147483647 at index 1.*1,000,000 classes/],
    ['1e11 classes in the metadata', { x: x4, y: { shape: [2], data: Int32Array.of(0, 1) } }, { classes: '100000000000' }, /classes='100000000000' is more than the 1,000,000 classes/],
  ];
  for (const [what, tensors, metadata, problem] of bad) {
    it(`rejects ${what}, naming the file`, async () => {
      const path = await write(`bad-${what.replace(/\W+/g, '-')}`, tensors, metadata);
      const err = await rejection(loadTensorDataset(path));
      expect(err).toBeInstanceOf(FileFormatError);
      expect(err.message).toContain(path);
      expect(err.message).toMatch(problem);
    });
  }
});
