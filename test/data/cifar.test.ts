import { mkdtemp, open, rm, stat, truncate, unlink, writeFile, mkdir } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileFormatError, OptionError } from '../../src/errors.js';
import { checkClassCount, mlp, resnet } from '../../src/nn/index.js';
import {
  CIFAR10_CLASS_NAMES,
  CIFAR10_LAYOUT,
  CIFAR10_NORMALIZATION,
  channelStats,
  ImageDataset,
  loadCifar10,
  loadCifar100,
  MAX_CIFAR_PIXEL_BYTES,
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
import { Rng } from '../../src/tensor/index.js';


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
    const none = await rejection(loadCifar10(empty));
    expect(none).toBeInstanceOf(FileFormatError);
    expect(none.message).toMatch(/CIFAR-10: no cifar-10-batches-bin files found in .*c10-empty.*hesse data download cifar10/);
    // a folder that does not exist, and a file given as the folder, say so, as typed errors (not ENOENT or ENOTDIR)
    const nowhere = join(empty, 'nowhere');
    const missing = await rejection(loadCifar10(nowhere));
    expect(missing).toBeInstanceOf(FileFormatError);
    expect((missing as { code?: unknown }).code).toBeUndefined();
    expect(missing.message).toContain(`CIFAR-10: the folder ${nowhere} does not exist`);
    const file = join(empty, 'data_batch_1.bin.txt');
    writeFileSync(file, 'x');
    for (const load of [loadCifar10, loadCifar100]) {
      const notFolder = await rejection(load(file));
      expect(notFolder, load.name).toBeInstanceOf(FileFormatError);
      expect((notFolder as { code?: unknown }).code, load.name).toBeUndefined();
      expect(notFolder.message).toContain(`${file} is a file, not a folder`);
    }
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

  it('has its class count checked against the model: coarse labels are 20 classes, fine ones 100', async () => {
    const parent = await fresh('c100-model');
    await writeTinyCifar100(parent);
    const coarse = await loadCifar100(parent, { labels: 'coarse' });
    const fine = await loadCifar100(parent);
    const ten = resnet({ depth: 8, width: 1, classes: 10 });
    const twenty = resnet({ depth: 8, width: 1, classes: 20 });
    expect(() => checkClassCount(ten, coarse)).toThrow(OptionError);
    expect(() => checkClassCount(ten, coarse)).toThrow(/cifar100-coarse-train has 20 classes but the model has 10 outputs/);
    expect(() => checkClassCount(twenty, coarse)).not.toThrow();
    expect(() => checkClassCount(twenty, fine)).toThrow(/cifar100-fine-train has 100 classes but the model has 20 outputs/);
    expect(() => checkClassCount(mlp({ sizes: [3072, 100] }), fine)).not.toThrow();
  });

  it('rejects a file of CIFAR-10-sized records', async () => {
    const parent = await fresh('c100-size');
    const folder = await writeTinyCifar100(parent);
    await writeFile(join(folder, 'test.bin'), cifarRecords(0, [[1], [2]]));
    await expect(loadCifar100(parent, { split: 'test' })).rejects.toThrow(/6146 bytes is not a whole number of 3074-byte CIFAR records/);
  });
});

describe('one CIFAR file read from disk', () => {
  // 200 records in the official layout, labels and pixels from a seed: what the reader returns is
  // checked against the bytes themselves
  const rng = new Rng(17);
  const labels = Array.from({ length: 200 }, () => rng.int(10));
  const bytes = new Uint8Array(200 * 3073);
  labels.forEach((l, r) => {
    bytes[r * 3073] = l;
    for (let k = 1; k < 3073; k++) bytes[r * 3073 + k] = rng.int(256);
  });
  const pixelOfRecord = (r: number, k: number) => bytes[r * 3073 + 1 + k]!;

  async function sampleFile(name: string): Promise<string> {
    const file = join(await fresh(name), 'sample.bin');
    await writeFile(file, bytes);
    return file;
  }

  it('reads 200 records: every label and pixel where the layout puts it, channel means as computed from the bytes', async () => {
    const file = await sampleFile('sample');
    const { pixels, labels: got } = await readCifarRecords(file, CIFAR10_LAYOUT);
    expect(Array.from(got)).toEqual(labels);
    expect(pixels.length).toBe(200 * 3072);
    for (let r = 0; r < 200; r++) for (let k = 0; k < 3072; k++) if (pixels[r * 3072 + k] !== pixelOfRecord(r, k)) throw new Error(`record ${r} byte ${k}`);
    const ds = new ImageDataset({ name: 'sample', pixels, labels: got, channels: 3, height: 32, width: 32, classes: 10 });
    const { mean } = channelStats(ds);
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      for (let r = 0; r < 200; r++) for (let k = c * 1024; k < (c + 1) * 1024; k++) sum += Math.fround(pixelOfRecord(r, k) / 255); // the float32 pixel get() returns
      expect(mean[c]).toBeCloseTo(sum / (200 * 1024), 12);
    }
  });

  it('parses the same records from memory', () => {
    const { labels: got, pixels } = parseCifarRecords(bytes, CIFAR10_LAYOUT, 'sample.bin');
    expect(Array.from(got)).toEqual(labels);
    expect(pixels[199 * 3072 + 3071]).toBe(pixelOfRecord(199, 3071));
    expect(() => parseCifarRecords(bytes.subarray(0, 3073 * 3 + 1), CIFAR10_LAYOUT, 'cut.bin')).toThrow(/cut\.bin: 9220 bytes/);
  });

  it('reads in chunks: records split across chunk boundaries land in place, and errors count records from the file start', async () => {
    const file = await sampleFile('chunks');
    for (const chunkRecords of [1, 3, 7, 199, 200, 1000]) {
      const { pixels, labels: got } = await readCifarRecords(file, CIFAR10_LAYOUT, { chunkRecords });
      expect(Array.from(got), `chunks of ${chunkRecords}`).toEqual(labels);
      expect(Buffer.from(pixels).equals(Buffer.from(parseCifarRecords(bytes, CIFAR10_LAYOUT).pixels)), `chunks of ${chunkRecords}`).toBe(true);
    }
    const bad = bytes.slice();
    bad[157 * 3073] = 12;
    await writeFile(file, bad);
    await expect(readCifarRecords(file, CIFAR10_LAYOUT, { chunkRecords: 10 })).rejects.toThrow(`${file}: record 157 has label 12, outside 0..9`);
  });

  it('names a missing file, a folder and a path through a file, as FileFormatErrors', async () => {
    const d = await fresh('paths');
    const missing = join(d, 'nope.bin');
    const cases: [string, string][] = [
      [missing, `${missing}: no such file`],
      [d, `${d}: is a directory, not a CIFAR binary file`],
      [join(await sampleFile('through'), 'x.bin'), 'no such file (a part of the path is a file'],
    ];
    for (const [path, message] of cases) {
      const err = await rejection(readCifarRecords(path, CIFAR10_LAYOUT));
      expect(err, path).toBeInstanceOf(FileFormatError);
      expect(err.message).toContain(message);
    }
  });

  it('reads a range of records: the same records as the whole file holds, and errors count from the file start', async () => {
    const file = await sampleFile('range');
    const whole = parseCifarRecords(bytes, CIFAR10_LAYOUT);
    for (const [start, end] of [[0, 200], [5, 6], [3, 190], [157, 200]] as const) {
      for (const chunkRecords of [1, 7, 1000]) {
        const { pixels, labels: got } = await readCifarRecords(file, CIFAR10_LAYOUT, { range: [start, end], chunkRecords });
        const at = `[${start}, ${end}) in chunks of ${chunkRecords}`;
        expect(Array.from(got), at).toEqual(labels.slice(start, end));
        expect(Buffer.from(pixels).equals(Buffer.from(whole.pixels.subarray(start * 3072, end * 3072))), at).toBe(true);
      }
    }
    for (const range of [[-1, 3], [5, 5], [7, 2], [0, 201], [1.5, 3]] as [number, number][]) {
      const err = await rejection(readCifarRecords(file, CIFAR10_LAYOUT, { range }));
      expect(err, String(range)).toBeInstanceOf(OptionError);
      expect(err.message).toContain(file);
      expect(err.message).toContain(`[${range[0]}, ${range[1]})`);
      expect(err.message).toContain('holds 200 records');
    }
  });

  // sparse files: their size is real but nothing is written, so no test writes gigabytes. Reading
  // all 2 GiB of zeros takes 5-15 s on a shared machine, so the test reads the records on either
  // side of the 2 GiB boundary, through the same chunked reads at positions past 2^31.
  it('reads a file over 2 GiB (Node reads no more than 2 GiB in one piece): records past 2 GiB come back as written', async () => {
    const file = join(await fresh('big'), 'data_batch_1.bin');
    // all-zero records (label 0, black) up to and past byte 2^31, with records of their own from
    // just before the 2 GiB boundary, across it, and past it to the file's end
    const across = Math.floor(2 ** 31 / 3073);
    const records = across + 4;
    expect(across * 3073).toBeLessThan(2 ** 31);
    expect((across + 1) * 3073).toBeGreaterThan(2 ** 31);
    const record = (label: number, salt: number) => Uint8Array.from({ length: 3073 }, (_, i) => (i === 0 ? label : (i * salt + 11) % 256));
    const written = new Map<number, Uint8Array>([
      [across - 1, record(1, 3)],
      [across, record(3, 7)],
      [across + 1, record(5, 17)],
      [records - 1, record(9, 13)],
    ]);
    const zero = new Uint8Array(3073);
    const put = async (at: number, bytes: Uint8Array) => {
      const fh = await open(file, 'r+');
      try {
        await fh.write(bytes, 0, bytes.length, at);
      } finally {
        await fh.close();
      }
    };
    await writeFile(file, new Uint8Array(0));
    await truncate(file, records * 3073);
    try {
      for (const [r, b] of written) await put(r * 3073, b);
      expect((await stat(file)).size).toBeGreaterThan(2 ** 31);
      const start = across - 2;
      // chunks of 2 records: one ends before the boundary, one crosses it, one starts past it
      for (const chunkRecords of [2, 1024]) {
        const { pixels, labels: got } = await readCifarRecords(file, CIFAR10_LAYOUT, { range: [start, records], chunkRecords });
        expect(got.length).toBe(records - start);
        for (let r = start; r < records; r++) {
          const want = written.get(r) ?? zero;
          const i = r - start;
          expect(got[i], `label of record ${r} (chunks of ${chunkRecords})`).toBe(want[0]);
          expect(Buffer.from(pixels.subarray(i * 3072, (i + 1) * 3072)).equals(Buffer.from(want.subarray(1))), `pixels of record ${r} (chunks of ${chunkRecords})`).toBe(true);
        }
      }
      // a bad label past 2 GiB is named by its record number in the file
      await put((across + 1) * 3073, Uint8Array.of(200));
      const err = await rejection(readCifarRecords(file, CIFAR10_LAYOUT, { range: [start, records] }));
      expect(err).toBeInstanceOf(FileFormatError);
      expect(err.message).toBe(`${file}: record ${across + 1} has label 200, outside 0..9 (a corrupt file, or not the dataset it is named after)`);
    } finally {
      await rm(file, { force: true });
    }
  });

  it('refuses a file whose pixels could not be held in one array, before reading it', async () => {
    const file = join(await fresh('huge'), 'test_batch.bin');
    const records = Math.floor(MAX_CIFAR_PIXEL_BYTES / 3072) + 1;
    await writeFile(file, new Uint8Array(0));
    await truncate(file, records * 3073);
    const err = await rejection(readCifarRecords(file, CIFAR10_LAYOUT));
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toContain(file);
    expect(err.message).toContain(`${records.toLocaleString('en-US')} images`);
  });
});
