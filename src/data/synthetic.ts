/**
 * A CIFAR-shaped (3x32x32) image classification set generated from a seed, for tests, demos and
 * benchmarks without downloads. Each class owns a few colour textures (sums of oriented waves and
 * blobs on the 32x32 torus, so shifts wrap seamlessly). A sample is one of its class's textures,
 * shifted, scaled and colour-jittered, overlaid with a weaker texture of another class, with strong
 * pixel noise; a fixed fraction of labels is then replaced by another class. Shift and texture
 * mixing make a linear model on pixels mediocre while convolutions do better; the label noise
 * caps every model's accuracy below 100%.
 *
 * The textures depend only on (seed, classes); the training and test splits draw samples from
 * different streams of the same textures.
 */
import { OptionError } from '../errors.js';
import { Rng } from '../tensor/index.js';
import { ImageDataset } from './dataset.js';

export interface SyntheticOptions {
  /** Number of samples (default 2048). */
  n?: number;
  seed?: number;
  /** Number of classes (default 10). */
  classes?: number;
  split?: 'train' | 'test';
}

const C = 3;
const H = 32;
const W = 32;
const PLANE = H * W;
const TEXTURES_PER_CLASS = 3;
const WAVES_PER_TEXTURE = 3;
const BLOBS_PER_TEXTURE = 2;
/** Fraction of labels replaced by a uniformly drawn other class. */
export const SYNTHETIC_LABEL_NOISE = 0.1;
const MAX_SHIFT = 8;
const DISTRACTOR_WEIGHT = 0.7;
const PIXEL_NOISE = 0.15;
const CONTRAST = 0.12;
const INV_STD_SUM_OF_4_BYTES = 1 / Math.sqrt((4 * (256 * 256 - 1)) / 12);

/** A texture of unit RMS per channel-summed energy, zero mean, C*H*W values. */
function makeTexture(rng: Rng, classWave: { fx: number; fy: number; colour: number[] }): Float32Array {
  const t = new Float64Array(C * PLANE);
  const waves = [{ ...classWave, phase: 2 * Math.PI * rng.uniform(), amp: 1 }];
  for (let k = 1; k < WAVES_PER_TEXTURE; k++) {
    let fx = 0;
    let fy = 0;
    while (fx === 0 && fy === 0) {
      fx = rng.int(9) - 4;
      fy = rng.int(9) - 4;
    }
    waves.push({ fx, fy, phase: 2 * Math.PI * rng.uniform(), amp: 0.5 + 0.5 * rng.uniform(), colour: [rng.normal(), rng.normal(), rng.normal()] });
  }
  for (const w of waves) {
    for (let h = 0; h < H; h++) {
      for (let x = 0; x < W; x++) {
        const v = w.amp * Math.cos((2 * Math.PI * (w.fx * x + w.fy * h)) / 32 + w.phase);
        for (let c = 0; c < C; c++) t[c * PLANE + h * W + x]! += w.colour[c]! * v;
      }
    }
  }
  for (let b = 0; b < BLOBS_PER_TEXTURE; b++) {
    const cy = rng.uniform() * H;
    const cx = rng.uniform() * W;
    const sigma = 2.5 + 3 * rng.uniform();
    const colour = [rng.normal(), rng.normal(), rng.normal()];
    for (let h = 0; h < H; h++) {
      const dy = Math.min(Math.abs(h - cy), H - Math.abs(h - cy));
      for (let x = 0; x < W; x++) {
        const dx = Math.min(Math.abs(x - cx), W - Math.abs(x - cx));
        const g = 1.5 * Math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
        for (let c = 0; c < C; c++) t[c * PLANE + h * W + x]! += colour[c]! * g;
      }
    }
  }
  let mean = 0;
  for (const v of t) mean += v;
  mean /= t.length;
  let ss = 0;
  for (const v of t) ss += (v - mean) * (v - mean);
  const scale = 1 / Math.sqrt(ss / t.length);
  const out = new Float32Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = (t[i]! - mean) * scale;
  return out;
}

/** textures[class][k], from the seed alone so both splits share them. */
function makeTextures(seed: number, classes: number): Float32Array[][] {
  const rng = new Rng(seed, 0);
  const out: Float32Array[][] = [];
  for (let c = 0; c < classes; c++) {
    let fx = 0;
    let fy = 0;
    while (fx === 0 && fy === 0) {
      fx = rng.int(7) - 3;
      fy = rng.int(7) - 3;
    }
    const classWave = { fx, fy, colour: [rng.normal(), rng.normal(), rng.normal()] };
    const textures: Float32Array[] = [];
    for (let k = 0; k < TEXTURES_PER_CLASS; k++) textures.push(makeTexture(rng, classWave));
    out.push(textures);
  }
  return out;
}

/** The most samples the synthetic set makes: 1,000,000 CIFAR-shaped images are 2.9 GiB of pixels (20 times CIFAR-10's training set). */
export const MAX_SYNTHETIC_SAMPLES = 1_000_000;

export function synthetic(options: SyntheticOptions = {}): ImageDataset {
  const n = options.n ?? 2048;
  const seed = options.seed ?? 0;
  const classes = options.classes ?? 10;
  const split = options.split ?? 'train';
  if (!Number.isInteger(n) || n <= 0) throw new OptionError(`synthetic: n must be a positive integer, got ${n}`);
  if (n > MAX_SYNTHETIC_SAMPLES) {
    throw new OptionError(`synthetic: ${n.toLocaleString('en-US')} samples are more than the ${MAX_SYNTHETIC_SAMPLES.toLocaleString('en-US')} it makes (each is 3 KiB of pixels); ask for fewer`);
  }
  if (!Number.isInteger(classes) || classes < 2 || classes > 256) throw new OptionError(`synthetic: classes must be an integer in 2..256, got ${classes}`);
  if (!Number.isFinite(seed)) throw new OptionError(`synthetic: seed must be a number, got ${seed}`);
  if (split !== 'train' && split !== 'test') throw new OptionError(`synthetic: split must be 'train' or 'test', got '${String(split)}'`);

  const textures = makeTextures(seed, classes);
  const rng = new Rng(seed, split === 'train' ? 1 : 2);
  // Exact balance of the true classes: a shuffled round-robin.
  const order = rng.permutation(n);
  const pixels = new Uint8Array(n * C * PLANE);
  const labels = new Int32Array(n);
  const img = new Float32Array(C * PLANE);

  for (let i = 0; i < n; i++) {
    const cls = order[i]! % classes;
    const main = textures[cls]![rng.int(TEXTURES_PER_CLASS)]!;
    let other = rng.int(classes - 1);
    if (other >= cls) other++;
    const distractor = textures[other]![rng.int(TEXTURES_PER_CLASS)]!;
    const sy = rng.int(2 * MAX_SHIFT + 1) - MAX_SHIFT + H;
    const sx = rng.int(2 * MAX_SHIFT + 1) - MAX_SHIFT + W;
    const dy = rng.int(H);
    const dx = rng.int(W);
    const amp = CONTRAST * (0.6 + 0.8 * rng.uniform());
    const damp = CONTRAST * DISTRACTOR_WEIGHT * rng.uniform();
    for (let c = 0; c < C; c++) {
      const gain = amp * (1 + 0.25 * rng.normal());
      const bias = 0.5 + 0.06 * rng.normal();
      const p = c * PLANE;
      for (let h = 0; h < H; h++) {
        const rowMain = p + ((h + sy) % H) * W;
        const rowDis = p + ((h + dy) % H) * W;
        for (let x = 0; x < W; x++) {
          img[p + h * W + x] = bias + gain * main[rowMain + ((x + sx) % W)]! + damp * distractor[rowDis + ((x + dx) % W)]!;
        }
      }
    }
    const base = i * C * PLANE;
    for (let k = 0; k < img.length; k++) {
      // Irwin-Hall noise from the four bytes of one draw: near-Gaussian, unit variance, and far
      // cheaper than a Box-Muller normal per pixel.
      const u = rng.nextUint32();
      const noise = ((u & 255) + ((u >>> 8) & 255) + ((u >>> 16) & 255) + (u >>> 24) - 510) * INV_STD_SUM_OF_4_BYTES;
      const v = img[k]! + PIXEL_NOISE * noise;
      pixels[base + k] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
    }
    let label = cls;
    if (rng.uniform() < SYNTHETIC_LABEL_NOISE) {
      label = rng.int(classes - 1);
      if (label >= cls) label++;
    }
    labels[i] = label;
  }

  return new ImageDataset({
    name: `synthetic-${split}`,
    pixels,
    labels,
    channels: C,
    height: H,
    width: W,
    classes,
    spec: { kind: 'synthetic', n, seed, classes, split },
  });
}
