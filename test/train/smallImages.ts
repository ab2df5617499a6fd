import { ImageDataset, synthetic, type Dataset } from '../../src/data/index.js';

/**
 * The synthetic CIFAR-shaped set shrunk by average pooling (factor 4: 32x32 → 8x8), so that a tiny
 * ResNet trains on it in seconds even on the reference kernels.
 */
export function pooledSynthetic(n: number, split: 'train' | 'test', factor = 4, seed = 0): Dataset {
  const full = synthetic({ n, split, seed });
  const { x, y } = full.get(Uint32Array.from({ length: n }, (_, i) => i));
  const [, c, h, w] = x.shape as [number, number, number, number];
  const ho = h / factor;
  const wo = w / factor;
  const out = new Float32Array(n * c * ho * wo);
  const inv = 1 / (factor * factor);
  for (let p = 0; p < n * c; p++) {
    for (let r = 0; r < ho; r++) {
      for (let q = 0; q < wo; q++) {
        let s = 0;
        for (let a = 0; a < factor; a++) for (let b = 0; b < factor; b++) s += x.data[p * h * w + (r * factor + a) * w + q * factor + b]!;
        out[p * ho * wo + r * wo + q] = s * inv;
      }
    }
  }
  return new ImageDataset({ name: `${full.name}-pooled${factor}`, pixels: out, labels: y, channels: c, height: ho, width: wo, classes: full.classes });
}
