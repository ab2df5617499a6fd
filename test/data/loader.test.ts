import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import {
  CIFAR10_NORMALIZATION,
  cropFlipImage,
  DataLoader,
  hessianBatch,
  ImageDataset,
  normalizeInPlace,
  type Batch,
} from '../../src/data/index.js';
import { Tensor } from '../../src/tensor/index.js';

/** n images 3x32x32 whose pixels encode (sample, channel, row, column), all non-zero. */
function codedDataset(n: number, classes = 5): ImageDataset {
  const per = 3 * 32 * 32;
  const pixels = new Float32Array(n * per);
  for (let i = 0; i < n; i++) for (let k = 0; k < per; k++) pixels[i * per + k] = i * per + k + 1;
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % classes);
  return new ImageDataset({ name: 'coded', pixels, labels, channels: 3, height: 32, width: 32, classes });
}

/** The oracle: build the zero-padded image explicitly, cut the window, then mirror it. */
function cropFlipOracle(img: Float32Array, c: number, h: number, w: number, top: number, left: number, flip: boolean, pad: number): Float32Array {
  const ph = h + 2 * pad;
  const pw = w + 2 * pad;
  const padded = new Float32Array(c * ph * pw);
  for (let ch = 0; ch < c; ch++) for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) padded[ch * ph * pw + (r + pad) * pw + q + pad] = img[ch * h * w + r * w + q]!;
  const out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++)
    for (let r = 0; r < h; r++) {
      const row = Array.from({ length: w }, (_, q) => padded[ch * ph * pw + (r + top) * pw + q + left]!);
      if (flip) row.reverse();
      out.set(row, ch * h * w + r * w);
    }
  return out;
}

function allIndices(batches: Iterable<Batch>): number[] {
  return [...batches].flatMap((b) => Array.from(b.indices));
}

describe('DataLoader order', () => {
  const ds = codedDataset(23);

  it('visits every sample exactly once per epoch, in a seeded order', () => {
    const loader = new DataLoader(ds, { batchSize: 5, seed: 7 });
    expect(loader.length).toBe(5);
    const e0 = allIndices(loader.epoch(0));
    const e1 = allIndices(loader.epoch(1));
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect([...e1].sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(e0).not.toEqual(e1);
    expect(e0).not.toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(allIndices(new DataLoader(ds, { batchSize: 5, seed: 7 }).epoch(1))).toEqual(e1);
    expect(allIndices(new DataLoader(ds, { batchSize: 5, seed: 8 }).epoch(0))).not.toEqual(e0);
    expect(Array.from(loader.order(1))).toEqual(e1);
  });

  it('iterating the loader itself runs epoch 0, then 1', () => {
    const loader = new DataLoader(ds, { batchSize: 4, seed: 3 });
    expect(allIndices(loader)).toEqual(allIndices(loader.epoch(0)));
    expect(allIndices(loader)).toEqual(allIndices(loader.epoch(1)));
  });

  it('keeps the order without shuffling, and labels and pixels follow the indices', () => {
    const loader = new DataLoader(ds, { batchSize: 10, shuffle: false });
    const batches = [...loader.epoch(4)];
    expect(batches.map((b) => b.indices.length)).toEqual([10, 10, 3]);
    expect(allIndices(batches)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    const shuffled = [...new DataLoader(ds, { batchSize: 6, seed: 1 }).epoch(0)];
    for (const b of shuffled) {
      expect(b.x.shape).toEqual([b.indices.length, 3, 32, 32]);
      b.indices.forEach((idx, k) => {
        expect(b.y[k]).toBe(ds.labels()[idx]);
        expect(b.x.data[k * 3072 + 100]).toBe(idx * 3072 + 101);
      });
    }
  });

  it('drops the last short batch on request', () => {
    const loader = new DataLoader(ds, { batchSize: 5, dropLast: true, seed: 2 });
    const batches = [...loader.epoch(0)];
    expect(loader.length).toBe(4);
    expect(batches.map((b) => b.indices.length)).toEqual([5, 5, 5, 5]);
    expect(new Set(allIndices(batches)).size).toBe(20);
  });

  it('gives batch b of epoch e on its own, identical to the epoch pass, augmentation included', () => {
    const loader = new DataLoader(ds, { batchSize: 4, seed: 11, augment: true, normalize: CIFAR10_NORMALIZATION });
    const pass = [...loader.epoch(3)];
    for (const b of [0, 2, 5]) {
      const alone = loader.batch(3, b);
      expect(Array.from(alone.indices)).toEqual(Array.from(pass[b]!.indices));
      expect(Buffer.from(alone.x.data.buffer).equals(Buffer.from(pass[b]!.x.data.buffer))).toBe(true);
    }
    expect(() => loader.batch(3, 6)).toThrow(OptionError);
    // augmentation works on copies: the dataset keeps its pixels
    expect(ds.get([4]).x.data[100]).toBe(4 * 3072 + 101);
  });

  it('refuses bad options', () => {
    expect(() => new DataLoader(ds, { batchSize: 0 })).toThrow(/batch size must be a positive integer, got 0/);
    expect(() => new DataLoader(ds, { batchSize: 2, normalize: { mean: [0.5], std: [0.2] } })).toThrow(/1 means and 1 stds for 3 channels/);
    expect(() => new DataLoader(ds, { batchSize: 2, normalize: { mean: [0, 0, 0], std: [1, 0, 1] } })).toThrow(/std 0 must be a positive number/);
    expect(() => [...new DataLoader(ds, { batchSize: 2 }).epoch(-1)]).toThrow(/epoch must be a non-negative integer/);
  });
});

describe('augmentation', () => {
  it('crops with zero padding 4 and flips exactly as torchvision does', () => {
    const ds = codedDataset(1);
    const original = ds.get([0]).x;
    for (const top of [0, 3, 4, 8])
      for (const left of [0, 1, 4, 8])
        for (const flip of [false, true]) {
          const x = original.clone();
          cropFlipImage(x, 0, { top, left, flip });
          expect(Array.from(x.data)).toEqual(Array.from(cropFlipOracle(original.data, 3, 32, 32, top, left, flip, 4)));
        }
    // spot checks by hand: offset (4, 4) is the identity; (0, 0) shifts the image down-right by 4
    const id = original.clone();
    cropFlipImage(id, 0, { top: 4, left: 4, flip: false });
    expect(Array.from(id.data)).toEqual(Array.from(original.data));
    const shifted = original.clone();
    cropFlipImage(shifted, 0, { top: 0, left: 0, flip: false });
    expect(shifted.data[3 * 32 + 31]).toBe(0);
    expect(shifted.data[4 * 32 + 4]).toBe(original.data[0]);
    const flipped = original.clone();
    cropFlipImage(flipped, 0, { top: 4, left: 4, flip: true });
    expect(flipped.data[1024 + 5 * 32 + 0]).toBe(original.data[1024 + 5 * 32 + 31]);
  });

  it('draws offsets uniformly in 0..8 and flips half the images, keeping shapes', () => {
    const ds = codedDataset(12);
    const loader = new DataLoader(ds, { batchSize: 12, shuffle: false, augment: true, seed: 5 });
    const originals = ds.get(Array.from({ length: 12 }, (_, i) => i)).x;
    const tops = new Array(9).fill(0);
    const lefts = new Array(9).fill(0);
    let flips = 0;
    let total = 0;
    for (let e = 0; e < 150; e++) {
      const b = loader.batch(e, 0);
      expect(b.x.shape).toEqual([12, 3, 32, 32]);
      for (let i = 0; i < 12; i++) {
        const got = b.x.data.subarray(i * 3072, (i + 1) * 3072);
        // Pixels encode their source position, so the centre pixels reveal the crop; the oracle
        // then has to reproduce the whole image from it.
        const src = (k: number) => got[k]! - 1 - i * 3072;
        const top = Math.floor(src(16 * 32 + 16) / 32) - 12;
        const flip = src(16 * 32 + 17) < src(16 * 32 + 16);
        const left = (src(16 * 32 + 16) % 32) - (flip ? 15 : 16) + 4;
        const img = originals.data.subarray(i * 3072, (i + 1) * 3072);
        const expected = cropFlipOracle(img, 3, 32, 32, top, left, flip, 4);
        expect(expected.every((v, k) => v === got[k])).toBe(true);
        tops[top]++;
        lefts[left]++;
        if (flip) flips++;
        total++;
      }
    }
    // 1800 draws: each offset about 200 (sd 13), flips about 900 (sd 21); bounds at about 4 sd
    for (const c of [...tops, ...lefts]) expect(Math.abs(c - total / 9)).toBeLessThan(55);
    expect(Math.abs(flips - total / 2)).toBeLessThan(85);
  });

  it('is off by default and augments before normalising (padding becomes -mean/std)', () => {
    const ds = codedDataset(6);
    const plain = new DataLoader(ds, { batchSize: 6, shuffle: false }).batch(0, 0);
    expect(Array.from(plain.x.data)).toEqual(Array.from(ds.get([0, 1, 2, 3, 4, 5]).x.data));
    const aug = new DataLoader(ds, { batchSize: 6, augment: true, seed: 9 }).batch(2, 0);
    const both = new DataLoader(ds, { batchSize: 6, augment: true, seed: 9, normalize: CIFAR10_NORMALIZATION }).batch(2, 0);
    expect(Array.from(both.x.data)).toEqual(Array.from(normalizeInPlace(aug.x.clone(), CIFAR10_NORMALIZATION).data));
  });
});

describe('normalisation', () => {
  it('uses the constants of PyHessian', () => {
    expect(CIFAR10_NORMALIZATION.mean).toEqual([0.4914, 0.4822, 0.4465]);
    expect(CIFAR10_NORMALIZATION.std).toEqual([0.2023, 0.1994, 0.201]);
  });

  it('computes (x - mean) / std per channel', () => {
    const values = [0, 1 / 255, 0.25, 0.5, 128 / 255, 1];
    const x = new Tensor([2, 3, 1, 1], Float32Array.from([...values]));
    const mean = [0.4914, 0.4822, 0.4465];
    const std = [0.2023, 0.1994, 0.201];
    normalizeInPlace(x, { mean, std });
    for (let i = 0; i < 6; i++) {
      const c = i % 3;
      const expected = (Math.fround(values[i]!) - mean[c]!) / std[c]!;
      expect(Math.abs(x.data[i]! - expected)).toBeLessThanOrEqual(2e-7 * Math.max(1, Math.abs(expected)));
    }
    expect(x.data[0]).toBe(Math.fround(Math.fround(0 - Math.fround(0.4914)) / Math.fround(0.2023)));
  });
});

describe('hessianBatch', () => {
  it('takes the first n samples, unaugmented, normalised on request', () => {
    const ds = codedDataset(10);
    const b = hessianBatch(ds, 4);
    expect(Array.from(b.indices)).toEqual([0, 1, 2, 3]);
    expect(Array.from(b.y)).toEqual(Array.from(ds.labels().subarray(0, 4)));
    expect(Array.from(b.x.data)).toEqual(Array.from(ds.get([0, 1, 2, 3]).x.data));
    const n = hessianBatch(ds, 4, CIFAR10_NORMALIZATION);
    expect(Array.from(n.x.data)).toEqual(Array.from(normalizeInPlace(b.x.clone(), CIFAR10_NORMALIZATION).data));
    expect(() => hessianBatch(ds, 11)).toThrow(/must be an integer in 1\.\.10 \(the size of coded\), got 11/);
  });
});
