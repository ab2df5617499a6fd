/**
 * A dataset stored as one safetensors file: `x` (N, C, H, W) as F32 (used as is) or U8 (scaled
 * by 1/255 per batch) and `y` (N) integer labels. The way to bring any image set from PyTorch
 * (`save_file({"x": x, "y": y}, path)`).
 */
import { basename } from 'node:path';
import { DTypeError, FileFormatError } from '../errors.js';
import { ImageDataset, MAX_CLASSES, type Dataset } from '../data/index.js';
import { asFloat32, asInt32Labels, readSafetensors, writeSafetensors, type TensorToWrite } from './safetensors.js';

export interface TensorDatasetOptions {
  xKey?: string;
  yKey?: string;
}

export async function loadTensorDataset(path: string, options: TensorDatasetOptions = {}): Promise<ImageDataset> {
  const xKey = options.xKey ?? 'x';
  const yKey = options.yKey ?? 'y';
  const file = await readSafetensors(path);
  const found = [...file.tensors.keys()].join(', ') || 'none';
  const x = file.tensors.get(xKey);
  const y = file.tensors.get(yKey);
  if (!x) throw new FileFormatError(`${path}: no tensor '${xKey}' (images, N x C x H x W); tensors found: ${found}`);
  if (!y) throw new FileFormatError(`${path}: no tensor '${yKey}' (labels, N); tensors found: ${found}`);
  if (x.shape.length !== 4) throw new FileFormatError(`${path}: '${xKey}' has shape [${x.shape.join(', ')}]; images need 4 dimensions (N, C, H, W)`);
  if (y.shape.length !== 1) throw new FileFormatError(`${path}: '${yKey}' has shape [${y.shape.join(', ')}]; labels need 1 dimension (N)`);
  const [n, channels, height, width] = x.shape as [number, number, number, number];
  if (y.shape[0] !== n) throw new FileFormatError(`${path}: '${xKey}' has ${n} images but '${yKey}' has ${y.shape[0]} labels`);
  if (channels * height * width === 0) throw new FileFormatError(`${path}: '${xKey}' has empty images (shape [${x.shape.join(', ')}])`);

  let pixels: Uint8Array | Float32Array;
  try {
    pixels = x.data instanceof Uint8Array ? x.data : asFloat32(x, `${path}: '${xKey}'`);
  } catch (e) {
    if (e instanceof DTypeError) throw new FileFormatError(`${e.message} (or U8 pixels)`);
    throw e;
  }
  let labels: Int32Array;
  try {
    labels = asInt32Labels(y, `${path}: '${yKey}'`);
  } catch (e) {
    if (e instanceof DTypeError) throw new FileFormatError(e.message);
    throw e;
  }

  let maxLabel = -1;
  let maxAt = -1;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! > maxLabel) {
      maxLabel = labels[i]!;
      maxAt = i;
    }
  }
  const limit = MAX_CLASSES.toLocaleString('en-US');
  if (maxLabel >= MAX_CLASSES) {
    throw new FileFormatError(`${path}: '${yKey}' holds label ${maxLabel} at index ${maxAt}; labels are class numbers 0..${MAX_CLASSES - 1} (at most ${limit} classes): check the labels`);
  }
  let classes = maxLabel + 1;
  const declared = file.metadata.classes;
  if (declared !== undefined) {
    if (!/^\d+$/.test(declared) || Number(declared) === 0) throw new FileFormatError(`${path}: metadata classes='${declared}' is not a positive integer`);
    if (Number(declared) > MAX_CLASSES) throw new FileFormatError(`${path}: metadata classes='${declared}' is more than the ${limit} classes hesse accepts`);
    classes = Number(declared);
    if (maxLabel >= classes) throw new FileFormatError(`${path}: label ${maxLabel} is outside the ${classes} classes its metadata declares`);
  }
  if (classes === 0) throw new FileFormatError(`${path}: holds no samples`);
  const classNames = file.metadata.class_names ? parseNames(file.metadata.class_names, classes) : undefined;
  return new ImageDataset({
    name: file.metadata.name ?? basename(path).replace(/\.safetensors$/, ''),
    pixels,
    labels,
    channels,
    height,
    width,
    classes,
    ...(classNames ? { classNames } : {}),
    spec: { kind: 'tensor', path },
  });
}

function parseNames(json: string, classes: number): string[] | undefined {
  try {
    const v = JSON.parse(json) as unknown;
    if (Array.isArray(v) && v.length === classes && v.every((s) => typeof s === 'string')) return v as string[];
  } catch {
    // a malformed optional field is ignored, not fatal
  }
  return undefined;
}

/** Writes a dataset in the form loadTensorDataset reads (8-bit pixels stay 8-bit); labels as I64 like PyTorch. */
export async function saveTensorDataset(path: string, dataset: Dataset): Promise<void> {
  const all = Uint32Array.from({ length: dataset.length }, (_, i) => i);
  const x: TensorToWrite =
    dataset instanceof ImageDataset
      ? { shape: [dataset.length, dataset.channels, dataset.height, dataset.width], data: dataset.pixels }
      : { shape: [dataset.length, dataset.channels, dataset.height, dataset.width], data: dataset.get(all).x.data };
  const metadata: Record<string, string> = { name: dataset.name, classes: String(dataset.classes) };
  if (dataset.classNames) metadata.class_names = JSON.stringify(dataset.classNames);
  await writeSafetensors(path, { x, y: { dtype: 'I64', shape: [dataset.length], data: dataset.labels() } }, metadata);
}
