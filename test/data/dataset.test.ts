import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionError, ShapeError } from '../../src/errors.js';
import { channelStats, classCounts, ImageDataset, loadCifar10, MAX_CLASSES, synthetic } from '../../src/data/index.js';
import { openDataset } from '../../src/io/index.js';
import { writeTinyCifar10 } from './cifar-files.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hesse-dataset-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function byteDataset(n: number): ImageDataset {
  const pixels = Uint8Array.from({ length: n * 2 * 2 * 3 }, (_, i) => (i * 13) % 256);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  return new ImageDataset({ name: 'bytes', pixels, labels, channels: 2, height: 2, width: 3, classes: 3 });
}

describe('ImageDataset', () => {
  it('scales 8-bit pixels to [0, 1] as float32 v/255 (what torchvision ToTensor gives)', () => {
    const ds = byteDataset(4);
    const { x, y } = ds.get([3, 1]);
    expect(x.shape).toEqual([2, 2, 2, 3]);
    expect(Array.from(y)).toEqual([0, 1]);
    for (let k = 0; k < 12; k++) {
      expect(x.data[k]).toBe(Math.fround(ds.pixels[36 + k]! / 255));
      expect(x.data[12 + k]).toBe(Math.fround(ds.pixels[12 + k]! / 255));
    }
  });

  it('takes subsets as views and indexes them from 0', () => {
    const ds = byteDataset(10);
    const shard = ds.subset(4, 7);
    expect(shard.length).toBe(3);
    expect(shard.pixels.buffer).toBe(ds.pixels.buffer);
    expect(Array.from(shard.get([0, 2]).x.data)).toEqual(Array.from(ds.get([4, 6]).x.data));
    expect(Array.from(shard.labels())).toEqual([1, 2, 0]);
    expect(shard.subset(1, 2).get([0]).y[0]).toBe(ds.labels()[5]);
    expect(ds.subset(3, 3).length).toBe(0);
    expect(() => ds.subset(5, 11)).toThrow(/subset \[5, 11\) is not a range inside 0\.\.10/);
    expect(() => shard.get([3])).toThrow(new OptionError('dataset bytes[4:7]: index 3 is outside 0..2'));
  });

  it('checks what it is built from', () => {
    const base = { name: 'bad', channels: 1, height: 2, width: 2, classes: 2 };
    expect(() => new ImageDataset({ ...base, pixels: new Uint8Array(7), labels: new Int32Array(2) })).toThrow(ShapeError);
    expect(() => new ImageDataset({ ...base, pixels: new Uint8Array(8), labels: Int32Array.of(0, 2) })).toThrow(/label 2 of sample 1 is outside 0\.\.1/);
    expect(() => new ImageDataset({ ...base, channels: 0, pixels: new Uint8Array(0), labels: new Int32Array(0) })).toThrow(/channels must be a positive integer/);
    // per-class tables would need gigabytes: 2^31 classes (a label of 2147483647) and 1e11 classes are refused by name
    for (const classes of [2 ** 31, 1e11]) {
      const big = () => new ImageDataset({ ...base, classes, pixels: new Uint8Array(8), labels: Int32Array.of(0, 1) });
      expect(big).toThrow(OptionError);
      expect(big).toThrow(`dataset bad: ${classes.toLocaleString('en-US')} classes are more than the ${MAX_CLASSES.toLocaleString('en-US')}`);
    }
  });

  it('counts classes and computes channel statistics', () => {
    const ds = byteDataset(10);
    expect(Array.from(classCounts(ds))).toEqual([4, 3, 3]);
    const { mean, std } = channelStats(ds, 3);
    for (let c = 0; c < 2; c++) {
      const vals: number[] = [];
      for (let i = 0; i < 10; i++) for (let k = 0; k < 6; k++) vals.push(Math.fround(ds.pixels[i * 12 + c * 6 + k]! / 255));
      const m = vals.reduce((a, b) => a + b, 0) / vals.length;
      const s = Math.sqrt(vals.reduce((a, b) => a + (b - m) ** 2, 0) / vals.length);
      expect(mean[c]).toBeCloseTo(m, 12);
      expect(std[c]).toBeCloseTo(s, 12);
    }
  });
});

describe('openDataset', () => {
  it('reloads a shard from its spec', async () => {
    const full = synthetic({ n: 40, seed: 3 });
    const shard = full.subset(10, 30).subset(5, 15);
    expect(shard.spec).toEqual({ kind: 'synthetic', n: 40, seed: 3, classes: 10, split: 'train', range: [15, 25] });
    const again = await openDataset(shard.spec!);
    expect(again.length).toBe(10);
    const idx = Array.from({ length: 10 }, (_, i) => i);
    expect(Array.from(again.get(idx).x.data)).toEqual(Array.from(full.get(idx.map((i) => i + 15)).x.data));

    await writeTinyCifar10(root);
    const cifar = (await loadCifar10(root)).subset(2, 5);
    const reopened = await openDataset(cifar.spec!);
    expect(Array.from(reopened.get([0, 1, 2]).y)).toEqual(Array.from(cifar.labels()));
  });
});
