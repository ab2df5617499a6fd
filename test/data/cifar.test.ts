import { readFileSync } from 'node:fs';
import { mkdtemp, rm, truncate, unlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileFormatError } from '../../src/errors.js';
import {
  CIFAR10_CLASS_NAMES,
  CIFAR10_LAYOUT,
  CIFAR10_NORMALIZATION,
  channelStats,
  ImageDataset,
  loadCifar10,
  loadCifar100,
  parseCifarRecords,
  readCifarRecords,
} from '../../src/data/index.js';
import {
  CIFAR100_TEST_LABELS,
  CIFAR100_TRAIN_LABELS,
  CIFAR10_TEST_LABELS,
  CIFAR10_TRAIN_LABELS,
  cifarRecords,
  pixelOf,
  writeTinyCifar10,
  writeTinyCifar100,
} from './cifar-files.js';
import { rejection } from './rejection.js';


let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hesse-cifar-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function fresh(name: string): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true });
  return d;
}

/** Checks every pixel of sample i against the file/record it must come from. */
function expectPixels(ds: ImageDataset, i: number, fileNo: number, record: number): void {
  const x = ds.get([i]).x.data;
  for (let c = 0; c < 3; c++)
    for (let h = 0; h < 32; h++)
      for (let w = 0; w < 32; w++) {
        const got = x[c * 1024 + h * 32 + w]!;
        if (got !== Math.fround(pixelOf(fileNo, record, c, h, w) / 255)) {
          throw new Error(`sample ${i} pixel (${c},${h},${w}) is ${got}, expected file ${fileNo} record ${record}`);
        }
      }
}

describe('CIFAR-10 reader', () => {
  it('reads the training batches in order, from the folder or its parent', async () => {
    const parent = await fresh('c10');
    const folder = await writeTinyCifar10(parent);
    for (const dir of [parent, folder]) {
      const ds = await loadCifar10(dir, { split: 'train' });
      expect(ds.length).toBe(10);
      expect([ds.channels, ds.height, ds.width, ds.classes]).toEqual([3, 32, 32, 10]);
      expect(Array.from(ds.labels())).toEqual(CIFAR10_TRAIN_LABELS.flat(2));
      expect(ds.classNames).toEqual(CIFAR10_CLASS_NAMES);
      expect(ds.spec).toEqual({ kind: 'cifar10', dir: folder, split: 'train' });
      for (let i = 0; i < 10; i++) expectPixels(ds, i, Math.floor(i / 2), i % 2);
    }
    const test = await loadCifar10(parent, { split: 'test' });
    expect(Array.from(test.labels())).toEqual(CIFAR10_TEST_LABELS.flat());
    expectPixels(test, 2, 5, 2);
  });

  it('says which batch file is missing, where, and how to get it', async () => {
    const parent = await fresh('c10-missing');
    const folder = await writeTinyCifar10(parent);
    await unlink(join(folder, 'data_batch_3.bin'));
    const err = await rejection(loadCifar10(parent));
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toContain(join(folder, 'data_batch_3.bin'));
    expect(err.message).toContain('missing CIFAR-10 train file');
    expect(err.message).toContain('hesse data download cifar10');
    expect(err.message).toContain('data_batch_1.bin, data_batch_2.bin');
    // the test split is complete and still loads
    expect((await loadCifar10(parent, { split: 'test' })).length).toBe(3);
  });

  it('says where it looked when there is no CIFAR folder at all', async () => {
    const empty = await fresh('c10-empty');
    await expect(loadCifar10(empty)).rejects.toThrow(/CIFAR-10: no cifar-10-batches-bin files found in .*c10-empty.*hesse data download cifar10/);
  });

  it('rejects a truncated batch, naming the file', async () => {
    const parent = await fresh('c10-trunc');
    const folder = await writeTinyCifar10(parent);
    await truncate(join(folder, 'data_batch_2.bin'), 3073 * 2 - 100);
    await expect(loadCifar10(parent)).rejects.toThrow(
      new FileFormatError(
        `${join(folder, 'data_batch_2.bin')}: 6046 bytes is not a whole number of 3073-byte CIFAR records (truncated or not a CIFAR binary file)`,
      ),
    );
  });

  it('rejects a label outside 0..9, naming the file and record', async () => {
    const parent = await fresh('c10-label');
    const folder = await writeTinyCifar10(parent);
    await writeFile(join(folder, 'test_batch.bin'), cifarRecords(5, [[1], [10]]));
    await expect(loadCifar10(parent, { split: 'test' })).rejects.toThrow(
      `${join(folder, 'test_batch.bin')}: record 1 has label 10, outside 0..9`,
    );
  });
});

describe('CIFAR-100 reader', () => {
  it('reads fine labels by default and coarse labels on request', async () => {
    const parent = await fresh('c100');
    await writeTinyCifar100(parent);
    const fine = await loadCifar100(parent);
    expect(fine.classes).toBe(100);
    expect(Array.from(fine.labels())).toEqual(CIFAR100_TRAIN_LABELS.map((l) => l[1]));
    expect(fine.classNames).toBeUndefined();
    expect(fine.name).toBe('cifar100-fine-train');
    for (let i = 0; i < 4; i++) expectPixels(fine, i, 0, i);
    const coarse = await loadCifar100(join(parent, 'cifar-100-binary'), { labels: 'coarse' });
    expect(coarse.classes).toBe(20);
    expect(Array.from(coarse.labels())).toEqual(CIFAR100_TRAIN_LABELS.map((l) => l[0]));
    expect(coarse.classNames?.[19]).toBe('coarse19');
    const test = await loadCifar100(parent, { split: 'test', labels: 'coarse' });
    expect(Array.from(test.labels())).toEqual(CIFAR100_TEST_LABELS.map((l) => l[0]));
    expectPixels(test, 1, 1, 1);
  });

  it('checks coarse labels against 20 classes and fine ones against 100', async () => {
    const parent = await fresh('c100-bad');
    const folder = await writeTinyCifar100(parent);
    await writeFile(join(folder, 'train.bin'), cifarRecords(0, [[20, 5]]));
    await expect(loadCifar100(parent, { labels: 'coarse' })).rejects.toThrow(/train\.bin: record 0 has label 20, outside 0\.\.19/);
    expect(Array.from((await loadCifar100(parent)).labels())).toEqual([5]);
    await writeFile(join(folder, 'train.bin'), cifarRecords(0, [[2, 100]]));
    await expect(loadCifar100(parent)).rejects.toThrow(/record 0 has label 100, outside 0\.\.99/);
  });

  it('rejects a file of CIFAR-10-sized records', async () => {
    const parent = await fresh('c100-size');
    const folder = await writeTinyCifar100(parent);
    await writeFile(join(folder, 'test.bin'), cifarRecords(0, [[1], [2]]));
    await expect(loadCifar100(parent, { split: 'test' })).rejects.toThrow(/6146 bytes is not a whole number of 3074-byte CIFAR records/);
  });
});

describe('the real CIFAR-10 sample', () => {
  const file = '/work/shared/cifar10-sample.bin';
  const names = readFileSync('/work/shared/cifar10-sample.names.txt', 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split('\t'));

  it('reads 200 records whose labels match the listing', async () => {
    const { pixels, labels } = await readCifarRecords(file, CIFAR10_LAYOUT);
    expect(labels.length).toBe(200);
    expect(names.length).toBe(200);
    names.forEach(([index, , label]) => expect(labels[Number(index)], `record ${index}`).toBe(Number(label)));
    expect(pixels.length).toBe(200 * 3072);
    // Real photographs: channel means near the CIFAR-10 means that PyHessian normalises with.
    const ds = new ImageDataset({ name: 'sample', pixels, labels, channels: 3, height: 32, width: 32, classes: 10 });
    const { mean } = channelStats(ds);
    mean.forEach((m, c) => expect(Math.abs(m - CIFAR10_NORMALIZATION.mean[c]!)).toBeLessThan(0.05));
  });

  it('parses the same records from memory', () => {
    const buf = readFileSync(file);
    const { labels } = parseCifarRecords(buf, CIFAR10_LAYOUT, file);
    expect(labels[0]).toBe(Number(names[0]![2]));
    expect(() => parseCifarRecords(buf.subarray(0, 3073 * 3 + 1), CIFAR10_LAYOUT, 'cut.bin')).toThrow(/cut\.bin: 9220 bytes/);
  });
});
