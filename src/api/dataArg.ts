import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { OptionError } from '../errors.js';
import { CIFAR10_NORMALIZATION, type Dataset, type DatasetSpec, type Normalization } from '../data/index.js';
import { openDataset } from '../io/index.js';

/**
 * The datasets a command line can name:
 * - `synthetic` or `synthetic:N`: the built-in set (N samples, default 2048), no files;
 * - `cifar10` or `cifar10:DIR`, `cifar100` or `cifar100:DIR` (default DIR ./data);
 * - a path to a safetensors file with `x` (N,C,H,W) and `y`.
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

export function describeData(spec: DatasetSpec, dataset: Dataset): string {
  const shape = `${dataset.channels}x${dataset.height}x${dataset.width}`;
  const count = `${dataset.length.toLocaleString('en-US')} images ${shape}, ${dataset.classes} classes`;
  switch (spec.kind) {
    case 'synthetic':
      return `built-in synthetic set (${spec.split} split, seed ${spec.seed}), ${count}`;
    case 'cifar10':
      return `CIFAR-10 ${spec.split} split from ${spec.dir}, ${count}`;
    case 'cifar100':
      return `CIFAR-100 ${spec.split} split (${spec.labels} labels) from ${spec.dir}, ${count}`;
    case 'tensor':
      return `${spec.path}, ${count}`;
  }
}

/** The normalisation PyHessian applies to CIFAR (and hesse to its CIFAR-shaped synthetic set); none for other data. */
export function defaultNormalization(spec: DatasetSpec): Normalization | null {
  return spec.kind === 'tensor' ? null : CIFAR10_NORMALIZATION;
}

export async function openDataArg(arg: string, split: 'train' | 'test', seed = 0): Promise<{ spec: DatasetSpec; dataset: Dataset; description: string }> {
  const spec = parseDataArg(arg, split, seed);
  const dataset = await openDataset(spec);
  return { spec, dataset, description: describeData(spec, dataset) };
}
