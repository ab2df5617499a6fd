/**
 * A dataset stored as one safetensors file: `x` (N, C, H, W) as F32 (used as is) or U8 (scaled
 * by 1/255 per batch) and `y` (N) integer labels. The way to bring any image set from PyTorch
 * (`save_file({"x": x, "y": y}, path)`).
 */
import { basename } from 'node:path';
import { DTypeError, FileFormatError } from '../errors.js';
import { ImageDataset, MAX_CLASSES, TensorSet, type Dataset } from '../data/index.js';
import { asFloat32, asInt32Labels, readSafetensors, writeSafetensors, type SafetensorsFile, type StoredTensor, type TensorToWrite } from './safetensors.js';

export interface TensorDatasetOptions {
  xKey?: string;
  yKey?: string;
}

export async function loadTensorDataset(path: string, options: TensorDatasetOptions = {}): Promise<ImageDataset> {
  return imageDatasetFrom(await readSafetensors(path), path, options);
}

function imageDatasetFrom(file: SafetensorsFile, path: string, options: TensorDatasetOptions): ImageDataset {
  const xKey = options.xKey ?? 'x';
  const yKey = options.yKey ?? 'y';
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

/** Integer ids beyond this are not exact in float32, the engine's input type. */
const MAX_EXACT_ID = 2 ** 24;

function integerValues(t: StoredTensor, what: string, limit: number): Float64Array | undefined {
  if (!(t.data instanceof BigInt64Array || t.data instanceof Int32Array)) return undefined;
  const out = new Float64Array(t.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Number(t.data[i]!);
    if (Math.abs(v) > limit) throw new FileFormatError(`${what}: value ${v} at index ${i} is beyond ±${limit}, which the engine cannot hold exactly`);
    out[i] = v;
  }
  return out;
}

/**
 * A safetensors file of any tensors: `x` (N, ...) as F32/F64 features, U8 pixels (scaled by
 * 1/255) or I64/I32 integer ids (token sequences, N x T); `y` (N, ...) as integer labels (class
 * or token labels; negatives such as −100 mark targets to ignore) or F32/F64 regression targets.
 */
export async function loadTensorSet(path: string, options: TensorDatasetOptions = {}): Promise<TensorSet> {
  return tensorSetFrom(await readSafetensors(path), path, options);
}

function tensorSetFrom(file: SafetensorsFile, path: string, options: TensorDatasetOptions): TensorSet {
  const xKey = options.xKey ?? 'x';
  const yKey = options.yKey ?? 'y';
  const found = [...file.tensors.keys()].join(', ') || 'none';
  const x = file.tensors.get(xKey);
  const y = file.tensors.get(yKey);
  if (!x) throw new FileFormatError(`${path}: no tensor '${xKey}' (inputs, N x ...); tensors found: ${found}`);
  if (!y) throw new FileFormatError(`${path}: no tensor '${yKey}' (targets, N x ...); tensors found: ${found}`);
  if (x.shape.length < 2) throw new FileFormatError(`${path}: '${xKey}' has shape [${x.shape.join(', ')}]; inputs need a sample dimension and at least one more (N, ...)`);
  if (y.shape.length < 1 || y.shape[0] !== x.shape[0]) {
    throw new FileFormatError(`${path}: '${xKey}' has ${x.shape[0]} samples but '${yKey}' has shape [${y.shape.join(', ')}]; the first dimensions must agree`);
  }
  const ids = integerValues(x, `${path}: '${xKey}'`, MAX_EXACT_ID);
  let values: Float32Array;
  if (ids) values = Float32Array.from(ids);
  else if (x.data instanceof Uint8Array) values = Float32Array.from(x.data, (v) => v / 255);
  else if (x.data instanceof Float32Array || x.data instanceof Float64Array) values = asFloat32(x);
  else throw new FileFormatError(`${path}: '${xKey}' has dtype ${x.dtype}; inputs are F32, F64, U8 or integer ids (I64, I32)`);
  const labels = integerValues(y, `${path}: '${yKey}'`, 2 ** 31 - 1);
  let targets: Int32Array | Float32Array;
  if (labels) targets = Int32Array.from(labels);
  else if (y.data instanceof Uint8Array) targets = Int32Array.from(y.data);
  else targets = asFloat32(y);
  return new TensorSet({
    name: file.metadata.name ?? basename(path).replace(/\.safetensors$/, ''),
    x: values,
    sampleShape: x.shape.slice(1),
    xKind: ids ? 'int' : 'float',
    y: targets,
    targetShape: y.shape.slice(1),
    spec: { kind: 'tensors', path },
  });
}

/**
 * The dataset a safetensors file holds: images (N, C, H, W) with one class label each load as
 * an ImageDataset (as loadTensorDataset); any other tensors as a TensorSet.
 */
export async function loadTensorData(path: string, options: TensorDatasetOptions = {}): Promise<ImageDataset | TensorSet> {
  const file = await readSafetensors(path);
  const x = file.tensors.get(options.xKey ?? 'x');
  const y = file.tensors.get(options.yKey ?? 'y');
  const images = x?.shape.length === 4 && (x.dtype === 'F32' || x.dtype === 'F64' || x.dtype === 'U8');
  const labels = y?.shape.length === 1 && (y.dtype === 'I64' || y.dtype === 'I32' || y.dtype === 'U8');
  return images && labels ? imageDatasetFrom(file, path, options) : tensorSetFrom(file, path, options);
}
