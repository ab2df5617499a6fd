import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { OptionError } from '../errors.js';
import { CIFAR10_NORMALIZATION, TensorSet, type AnyDataset, type Dataset, type DatasetSpec, type Normalization } from '../data/index.js';
import { loadTensorData, openDataset } from '../io/index.js';

/**
 * The datasets a command line can name:
 * - `synthetic` or `synthetic:N`: the built-in set (N samples, default 2048), no files;
 * - `cifar10` or `cifar10:DIR`, `cifar100` or `cifar100:DIR` (default DIR ./data);
 * - a path to a safetensors file with `x` and `y`: images (N,C,H,W) with labels (N), or any
 *   other tensors (token ids (N,T) with token labels, features with float targets), which
 *   `openDataArg` tells apart by what the file holds.
 */
export function parseDataArg(arg: string, split: 'train' | 'test', seed = 0): DatasetSpec {
  const [kind, rest] = splitOnce(arg);
  switch (kind) {
    case 'synthetic': {
      const n = rest === undefined ? 2048 : Number(rest);
      if (!Number.isInteger(n) || n < 1) throw new OptionError(`the data source synthetic:N needs a positive integer N, got '${rest}'`);
      return { kind: 'synthetic', n, seed, classes: 10, split };
    }
    case 'cifar10':
      return { kind: 'cifar10', dir: resolve(rest ?? 'data'), split };
    case 'cifar100':
      return { kind: 'cifar100', dir: resolve(rest ?? 'data'), split, labels: 'fine' };
    default:
      if (arg.endsWith('.safetensors') || existsSync(arg)) return { kind: 'tensor', path: resolve(arg) };
      throw new OptionError(`unknown data '${arg}': use synthetic[:N], cifar10[:DIR], cifar100[:DIR] or a .safetensors file with x and y`);
  }
}

function splitOnce(arg: string): [string, string | undefined] {
  const i = arg.indexOf(':');
  // a Windows drive letter or a path is not a kind
  if (i <= 1 || arg.startsWith('/') || arg.startsWith('.')) return [arg, undefined];
  return [arg.slice(0, i), arg.slice(i + 1)];
}

const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;

/** How many samples of what: '2,048 images 3x32x32, 10 classes', '64 samples: integer ids [32], integer labels [32]'. */
export function sampleSummary(dataset: AnyDataset): string {
  const n = dataset.length.toLocaleString('en-US');
  if (dataset instanceof TensorSet) {
    const inputs = `${dataset.xKind === 'int' ? 'integer ids' : 'float values'} ${shapeText(dataset.sampleShape)}`;
    const what = dataset.targetKind === 'int' ? 'integer labels' : 'float targets';
    const targets = dataset.targetShape.length === 0 ? `${what}, one each` : `${what} ${shapeText(dataset.targetShape)}`;
    return `${n} samples: ${inputs}, ${targets}`;
  }
  return `${n} images ${dataset.channels}x${dataset.height}x${dataset.width}, ${dataset.classes} classes`;
}

export function describeData(spec: DatasetSpec, dataset: AnyDataset): string {
  const count = sampleSummary(dataset);
  switch (spec.kind) {
    case 'synthetic':
      return `built-in synthetic set (${spec.split} split, seed ${spec.seed}), ${count}`;
    case 'cifar10':
      return `CIFAR-10 ${spec.split} split from ${spec.dir}, ${count}`;
    case 'cifar100':
      return `CIFAR-100 ${spec.split} split (${spec.labels} labels) from ${spec.dir}, ${count}`;
    case 'tensor':
    case 'tensors':
      return `${spec.path}, ${count}`;
  }
}

/** The normalisation PyHessian applies to CIFAR (and hesse to its CIFAR-shaped synthetic set); none for other data. */
export function defaultNormalization(spec: DatasetSpec): Normalization | null {
  return spec.kind === 'tensor' || spec.kind === 'tensors' ? null : CIFAR10_NORMALIZATION;
}

/** Opens the data an argument names; a safetensors file opens as images or as a tensor set, whichever it holds. */
export async function openDataArg(arg: string, split: 'train' | 'test', seed = 0): Promise<{ spec: DatasetSpec; dataset: AnyDataset; description: string }> {
  const named = parseDataArg(arg, split, seed);
  const dataset = named.kind === 'tensor' ? await loadTensorData(named.path) : await openDataset(named);
  const spec = dataset.spec ?? named;
  return { spec, dataset, description: describeData(spec, dataset) };
}

/** Opens data that must be labelled images (what training takes): a tensor set is refused, saying what it holds. */
export async function openImageDataArg(arg: string, split: 'train' | 'test', seed = 0): Promise<{ spec: DatasetSpec; dataset: Dataset; description: string }> {
  const d = await openDataArg(arg, split, seed);
  if (d.dataset instanceof TensorSet) {
    throw new OptionError(`training takes images (N, C, H, W) with class labels (N), but ${d.description}; token sequences and regression targets are for analyze and landscape`);
  }
  return { ...d, dataset: d.dataset };
}
