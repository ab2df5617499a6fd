/**
 * CIFAR-10 and CIFAR-100 in the official binary format: fixed-size records of label byte(s)
 * followed by 3072 pixel bytes (the R, G and B planes of a 32x32 image, row-major), which is
 * already NCHW. Files are read a chunk at a time straight into one uint8 array of pixels.
 */
import { constants } from 'node:buffer';
import { open, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FileFormatError, OptionError, unreadableFile } from '../errors.js';
import { ImageDataset } from './dataset.js';

export const CIFAR_IMAGE_BYTES = 3 * 32 * 32;

export interface CifarRecordLayout {
  /** 1 for CIFAR-10 (label), 2 for CIFAR-100 (coarse label, fine label). */
  labelBytes: 1 | 2;
  /** Which of the label bytes is the label. */
  labelIndex: number;
  classes: number;
}

export const CIFAR10_LAYOUT: CifarRecordLayout = { labelBytes: 1, labelIndex: 0, classes: 10 };
export const CIFAR100_FINE_LAYOUT: CifarRecordLayout = { labelBytes: 2, labelIndex: 1, classes: 100 };
export const CIFAR100_COARSE_LAYOUT: CifarRecordLayout = { labelBytes: 2, labelIndex: 0, classes: 20 };

export const CIFAR10_CLASS_NAMES = Object.freeze([
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
]);

/** Where the official archives put things. */
export const CIFAR_LAYOUTS = {
  cifar10: {
    title: 'CIFAR-10',
    folder: 'cifar-10-batches-bin',
    train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
    test: ['test_batch.bin'],
    recordBytes: 1 + CIFAR_IMAGE_BYTES,
  },
  cifar100: {
    title: 'CIFAR-100',
    folder: 'cifar-100-binary',
    train: ['train.bin'],
    test: ['test.bin'],
    recordBytes: 2 + CIFAR_IMAGE_BYTES,
  },
} as const;

export type CifarName = keyof typeof CIFAR_LAYOUTS;

export interface CifarRecords {
  pixels: Uint8Array;
  labels: Int32Array;
}

function recordCount(size: number, layout: CifarRecordLayout, file: string): number {
  const recordBytes = layout.labelBytes + CIFAR_IMAGE_BYTES;
  if (size === 0 || size % recordBytes !== 0) {
    throw new FileFormatError(
      `${file}: ${size} bytes is not a whole number of ${recordBytes}-byte CIFAR records (truncated or not a CIFAR binary file)`,
    );
  }
  return size / recordBytes;
}

/** The most pixel bytes one dataset can hold: they live in one Uint8Array. */
export const MAX_CIFAR_PIXEL_BYTES = constants.MAX_LENGTH;

function checkFitsInMemory(records: number, what: string): void {
  if (records * CIFAR_IMAGE_BYTES > MAX_CIFAR_PIXEL_BYTES) {
    const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
    throw new FileFormatError(
      `${what}: ${records.toLocaleString('en-US')} images are ${gib(records * CIFAR_IMAGE_BYTES)} of pixels, more than the ${gib(MAX_CIFAR_PIXEL_BYTES)} one array can hold; split the file or use fewer files`,
    );
  }
}

/**
 * Splits whole records into `pixels` (starting at sample `at`) and `labels`, which must have
 * room for them. `firstRecord` is the file's record number of the first one, for errors.
 */
function scatterRecords(buf: Uint8Array, layout: CifarRecordLayout, file: string, pixels: Uint8Array, labels: Int32Array, at: number, firstRecord = 0): number {
  const recordBytes = layout.labelBytes + CIFAR_IMAGE_BYTES;
  const n = buf.length / recordBytes;
  for (let r = 0; r < n; r++) {
    const o = r * recordBytes;
    const label = buf[o + layout.labelIndex]!;
    if (label >= layout.classes) {
      throw new FileFormatError(
        `${file}: record ${firstRecord + r} has label ${label}, outside 0..${layout.classes - 1} (a corrupt file, or not the dataset it is named after)`,
      );
    }
    labels[at + r] = label;
    pixels.set(buf.subarray(o + layout.labelBytes, o + recordBytes), (at + r) * CIFAR_IMAGE_BYTES);
  }
  return n;
}

/** The records of one CIFAR binary file held in memory. `file` names it in errors. */
export function parseCifarRecords(buf: Uint8Array, layout: CifarRecordLayout, file = '<buffer>'): CifarRecords {
  const n = recordCount(buf.length, layout, file);
  checkFitsInMemory(n, file);
  const out = { pixels: new Uint8Array(n * CIFAR_IMAGE_BYTES), labels: new Int32Array(n) };
  scatterRecords(buf, layout, file, out.pixels, out.labels, 0);
  return out;
}

/** How many records a CIFAR file holds, from its size; a missing file or a folder is a FileFormatError. */
async function recordsInFile(file: string, layout: CifarRecordLayout): Promise<number> {
  let s;
  try {
    s = await stat(file);
  } catch (e) {
    throw unreadableFile(file, e, 'a CIFAR binary file');
  }
  if (!s.isFile()) throw new FileFormatError(`${file}: is ${s.isDirectory() ? 'a directory' : 'not a regular file'}, not a CIFAR binary file`);
  return recordCount(s.size, layout, file);
}

export interface CifarReadOptions {
  /** records read at a time (default 1024, about 3 MiB): files of any size are read in pieces */
  chunkRecords?: number;
  /** only records [start, end) of the file (default all); errors still count records from the file's start */
  range?: readonly [number, number];
}

/**
 * Reads `records` records of `file`, from its record `first` on, into `pixels` and `labels` from
 * sample `at` on, a chunk at a time, so that neither the file's size (readFile stops at 2 GiB) nor
 * a second copy of it in memory limits what can be read.
 */
async function readRecordsInto(
  file: string,
  layout: CifarRecordLayout,
  records: number,
  into: CifarRecords,
  at: number,
  options: Pick<CifarReadOptions, 'chunkRecords'>,
  first = 0,
): Promise<void> {
  const recordBytes = layout.labelBytes + CIFAR_IMAGE_BYTES;
  const chunk = options.chunkRecords ?? 1024;
  if (!Number.isInteger(chunk) || chunk < 1) throw new OptionError(`chunkRecords must be a positive integer, got ${chunk}`);
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw unreadableFile(file, e, 'a CIFAR binary file');
  }
  try {
    const buf = new Uint8Array(Math.min(chunk, records) * recordBytes);
    for (let r = 0; r < records; r += chunk) {
      const want = Math.min(chunk, records - r) * recordBytes;
      const from = (first + r) * recordBytes;
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, from + got);
        if (bytesRead === 0) throw new FileFormatError(`${file}: ended at byte ${from + got} of ${(first + records) * recordBytes}; it changed size while being read`);
        got += bytesRead;
      }
      scatterRecords(buf.subarray(0, want), layout, file, into.pixels, into.labels, at + r, first + r);
    }
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw unreadableFile(file, e, 'a CIFAR binary file');
  } finally {
    await fh.close();
  }
}

/**
 * The records of one CIFAR binary file (or those of `options.range`), read in chunks; a missing
 * file or a folder is a FileFormatError naming it.
 */
export async function readCifarRecords(file: string, layout: CifarRecordLayout, options: CifarReadOptions = {}): Promise<CifarRecords> {
  const inFile = await recordsInFile(file, layout);
  const [start, end] = options.range ?? [0, inFile];
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end <= start || end > inFile) {
    throw new OptionError(`${file}: range [${start}, ${end}) is not a non-empty range of records inside 0..${inFile} (the file holds ${inFile} records)`);
  }
  const n = end - start;
  checkFitsInMemory(n, file);
  const out = { pixels: new Uint8Array(n * CIFAR_IMAGE_BYTES), labels: new Int32Array(n) };
  await readRecordsInto(file, layout, n, out, 0, options, start);
  return out;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

function whereToGetIt(name: CifarName, folder: string): string {
  const l = CIFAR_LAYOUTS[name];
  const files = [...l.train, ...l.test].join(', ');
  return (
    `${l.title} is expected as the official binary files ${files} in ${folder} ` +
    `(give the ${l.folder} folder or the folder that holds it). ` +
    `Run \`hesse data download ${name}\` to fetch them, or extract the binary archive from https://www.cs.toronto.edu/~kriz/cifar.html there.`
  );
}

/** `dir` may be the extracted folder itself or its parent; returns the folder that holds the files. */
export async function resolveCifarFolder(name: CifarName, dir: string): Promise<string> {
  const l = CIFAR_LAYOUTS[name];
  const at = await stat(resolve(dir)).catch(() => undefined);
  if (!at) throw new FileFormatError(`${l.title}: the folder ${resolve(dir)} does not exist. ${whereToGetIt(name, resolve(dir, l.folder))}`);
  if (!at.isDirectory()) throw new FileFormatError(`${l.title}: ${resolve(dir)} is a file, not a folder; give the folder that holds the ${l.folder} files. ${whereToGetIt(name, resolve(dir, l.folder))}`);
  const candidates = [resolve(dir), resolve(dir, l.folder)];
  for (const c of candidates) {
    for (const f of [...l.train, ...l.test]) if (await isFile(join(c, f))) return c;
  }
  throw new FileFormatError(`${l.title}: no ${l.folder} files found in ${resolve(dir)}. ${whereToGetIt(name, resolve(dir, l.folder))}`);
}

async function loadCifar(
  name: CifarName,
  dir: string,
  split: 'train' | 'test',
  layout: CifarRecordLayout,
  extra: { labelKind?: 'fine' | 'coarse'; classNames?: readonly string[] },
): Promise<ImageDataset> {
  if (split !== 'train' && split !== 'test') throw new OptionError(`${CIFAR_LAYOUTS[name].title}: split must be 'train' or 'test', got '${String(split)}'`);
  const folder = await resolveCifarFolder(name, dir);
  const files = CIFAR_LAYOUTS[name][split].map((f) => join(folder, f));
  const counts: number[] = [];
  for (const f of files) {
    const s = await stat(f).catch(() => null);
    if (!s?.isFile()) {
      throw new FileFormatError(`${f}: missing ${CIFAR_LAYOUTS[name].title} ${split} file. ${whereToGetIt(name, folder)}`);
    }
    counts.push(await recordsInFile(f, layout));
  }
  const total = counts.reduce((a, b) => a + b, 0);
  checkFitsInMemory(total, `${CIFAR_LAYOUTS[name].title} ${split} split in ${folder}`);
  const records: CifarRecords = { pixels: new Uint8Array(total * CIFAR_IMAGE_BYTES), labels: new Int32Array(total) };
  let at = 0;
  for (const [i, f] of files.entries()) {
    await readRecordsInto(f, layout, counts[i]!, records, at, {});
    at += counts[i]!;
  }
  const { pixels, labels } = records;
  const labelSuffix = extra.labelKind ? `-${extra.labelKind}` : '';
  return new ImageDataset({
    name: `${name}${labelSuffix}-${split}`,
    pixels,
    labels,
    channels: 3,
    height: 32,
    width: 32,
    classes: layout.classes,
    ...(extra.classNames ? { classNames: extra.classNames } : {}),
    spec:
      name === 'cifar10'
        ? { kind: 'cifar10', dir: folder, split }
        : { kind: 'cifar100', dir: folder, split, labels: extra.labelKind ?? 'fine' },
  });
}

export interface Cifar10Options {
  split?: 'train' | 'test';
}

/** CIFAR-10 from `cifar-10-batches-bin/` (or its parent): 50000 training or 10000 test images. */
export function loadCifar10(dir: string, options: Cifar10Options = {}): Promise<ImageDataset> {
  return loadCifar('cifar10', dir, options.split ?? 'train', CIFAR10_LAYOUT, { classNames: CIFAR10_CLASS_NAMES });
}

export interface Cifar100Options {
  split?: 'train' | 'test';
  /** 100 fine classes (the default) or the 20 coarse superclasses. */
  labels?: 'fine' | 'coarse';
}

async function readNames(file: string, count: number): Promise<string[] | undefined> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return undefined;
  const names = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  return names.length === count ? names : undefined;
}

/** CIFAR-100 from `cifar-100-binary/` (or its parent), with fine (100) or coarse (20) labels. */
export async function loadCifar100(dir: string, options: Cifar100Options = {}): Promise<ImageDataset> {
  const kind = options.labels ?? 'fine';
  if (kind !== 'fine' && kind !== 'coarse') throw new OptionError(`CIFAR-100: labels must be 'fine' or 'coarse', got '${String(kind)}'`);
  const layout = kind === 'fine' ? CIFAR100_FINE_LAYOUT : CIFAR100_COARSE_LAYOUT;
  const folder = await resolveCifarFolder('cifar100', dir);
  const classNames = await readNames(join(folder, `${kind}_label_names.txt`), layout.classes);
  return loadCifar('cifar100', folder, options.split ?? 'train', layout, { labelKind: kind, ...(classNames ? { classNames } : {}) });
}
