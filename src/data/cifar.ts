/**
 * CIFAR-10 and CIFAR-100 in the official binary format: fixed-size records of label byte(s)
 * followed by 3072 pixel bytes (the R, G and B planes of a 32x32 image, row-major), which is
 * already NCHW. Whole files are read into one buffer and copied into one uint8 array.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FileFormatError, OptionError } from '../errors.js';
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

/**
 * Splits records into `pixels` (starting at sample `at`) and `labels`, which must have room for
 * them. Returns the number of records.
 */
function scatterRecords(buf: Uint8Array, layout: CifarRecordLayout, file: string, pixels: Uint8Array, labels: Int32Array, at: number): number {
  const n = recordCount(buf.length, layout, file);
  const recordBytes = layout.labelBytes + CIFAR_IMAGE_BYTES;
  for (let r = 0; r < n; r++) {
    const o = r * recordBytes;
    const label = buf[o + layout.labelIndex]!;
    if (label >= layout.classes) {
      throw new FileFormatError(
        `${file}: record ${r} has label ${label}, outside 0..${layout.classes - 1} (a corrupt file, or not the dataset it is named after)`,
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
  const out = { pixels: new Uint8Array(n * CIFAR_IMAGE_BYTES), labels: new Int32Array(n) };
  scatterRecords(buf, layout, file, out.pixels, out.labels, 0);
  return out;
}

export async function readCifarRecords(file: string, layout: CifarRecordLayout): Promise<CifarRecords> {
  return parseCifarRecords(await readFile(file), layout, file);
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
  const recordBytes = layout.labelBytes + CIFAR_IMAGE_BYTES;
  let total = 0;
  for (const f of files) {
    const s = await stat(f).catch(() => null);
    if (!s?.isFile()) {
      throw new FileFormatError(`${f}: missing ${CIFAR_LAYOUTS[name].title} ${split} file. ${whereToGetIt(name, folder)}`);
    }
    total += recordCount(s.size, layout, f);
  }
  const pixels = new Uint8Array(total * CIFAR_IMAGE_BYTES);
  const labels = new Int32Array(total);
  let at = 0;
  for (const f of files) {
    const buf = await readFile(f);
    if (at + buf.length / recordBytes > total) throw new FileFormatError(`${f}: changed size while being read`);
    at += scatterRecords(buf, layout, f, pixels, labels, at);
  }
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
