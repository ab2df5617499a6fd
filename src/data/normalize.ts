import { OptionError } from '../errors.js';
import type { Tensor } from '../tensor/index.js';
import type { Dataset } from './dataset.js';

/** Per-channel (x - mean) / std, as torchvision's Normalize. */
export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

/** The CIFAR-10 constants PyHessian's training and analysis scripts use. */
export const CIFAR10_NORMALIZATION: Normalization = Object.freeze({
  mean: Object.freeze([0.4914, 0.4822, 0.4465]),
  std: Object.freeze([0.2023, 0.1994, 0.201]),
});

/**
 * A normalisation from untrusted JSON (a checkpoint's metadata): null (raw pixels) or
 * { mean: number[], std: number[] } of one finite mean and one positive std per channel.
 */
export function normalizationFrom(value: unknown): Normalization | null {
  if (value === null) return null;
  const shape = 'must be null or { "mean": [numbers], "std": [numbers] } with one of each per channel';
  if (typeof value !== 'object' || Array.isArray(value)) throw new OptionError(`normalisation ${JSON.stringify(value)} ${shape}`);
  const { mean, std, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new OptionError(`normalisation has an unknown key '${extra[0]}'; it ${shape}`);
  for (const [key, list] of [['mean', mean], ['std', std]] as const) {
    if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'number')) {
      throw new OptionError(`normalisation ${key} ${JSON.stringify(list) ?? 'is missing'}: it ${shape}`);
    }
  }
  const norm = { mean: [...(mean as number[])], std: [...(std as number[])] };
  checkNormalization(norm, norm.mean.length);
  return norm;
}

export function checkNormalization(norm: Normalization, channels: number): void {
  if (norm.mean.length !== channels || norm.std.length !== channels) {
    throw new OptionError(`normalisation has ${norm.mean.length} means and ${norm.std.length} stds for ${channels} channels; give one of each per channel`);
  }
  for (const s of norm.std) {
    if (!(s > 0) || !Number.isFinite(s)) throw new OptionError(`normalisation std ${s} must be a positive number`);
  }
  for (const m of norm.mean) if (!Number.isFinite(m)) throw new OptionError(`normalisation mean ${m} must be a finite number`);
}

/**
 * Normalises an NCHW batch in place. The arithmetic is float32 step by step (subtract, round,
 * divide, round) with float32 constants, which is what torch does, so values match it bit for bit.
 */
export function normalizeInPlace(x: Tensor, norm: Normalization): Tensor {
  if (x.rank !== 4) throw new OptionError(`normalisation needs an NCHW batch, got shape [${x.shape.join(', ')}]`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  checkNormalization(norm, c);
  const plane = h * w;
  const d = x.data;
  for (let ch = 0; ch < c; ch++) {
    const m = Math.fround(norm.mean[ch]!);
    const s = Math.fround(norm.std[ch]!);
    for (let i = 0; i < n; i++) {
      const o = (i * c + ch) * plane;
      for (let k = o; k < o + plane; k++) d[k] = Math.fround(d[k]! - m) / s;
    }
  }
  return x;
}

/** Per-channel mean and (population) standard deviation of a dataset's pixels, accumulated in float64. */
export function channelStats(dataset: Dataset, chunk = 1024): Normalization {
  const c = dataset.channels;
  const plane = dataset.height * dataset.width;
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  for (let start = 0; start < dataset.length; start += chunk) {
    const end = Math.min(dataset.length, start + chunk);
    const idx = Uint32Array.from({ length: end - start }, (_, i) => start + i);
    const d = dataset.get(idx).x.data;
    for (let i = 0; i < end - start; i++) {
      for (let ch = 0; ch < c; ch++) {
        const o = (i * c + ch) * plane;
        let s = 0;
        let q = 0;
        for (let k = o; k < o + plane; k++) {
          s += d[k]!;
          q += d[k]! * d[k]!;
        }
        sum[ch]! += s;
        sq[ch]! += q;
      }
    }
  }
  const count = dataset.length * plane;
  const mean = Array.from(sum, (s) => s / count);
  const std = Array.from(sq, (q, ch) => Math.sqrt(Math.max(0, q / count - mean[ch]! * mean[ch]!)));
  return { mean, std };
}
