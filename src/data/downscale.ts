/**
 * Smaller images by averaging square blocks of pixels (what torch's avg_pool2d with kernel =
 * stride = factor does): a cheap way to run the same experiment on 8x8 or 16x16 images, where a
 * convolution costs a sixteenth or a quarter of what it costs at 32x32.
 */
import { OptionError } from '../errors.js';
import { ImageDataset, type Dataset } from './dataset.js';

const CHUNK = 1024;

/** `dataset` with every image shrunk to size x size; the side must divide the stored height and width. */
export function downscaleImages(dataset: Dataset, size: number): ImageDataset {
  const { height: h, width: w, channels: c, length: n } = dataset;
  if (!Number.isInteger(size) || size < 1 || h % size !== 0 || w % size !== 0 || h / size !== w / size) {
    throw new OptionError(`${dataset.name}: images of ${h}x${w} cannot be shrunk to ${size}x${size} by averaging square blocks; give a side that divides ${h} (e.g. ${h / 2}, ${h / 4})`);
  }
  const f = h / size;
  const out = new Float32Array(n * c * size * size);
  const inv = 1 / (f * f);
  for (let start = 0; start < n; start += CHUNK) {
    const end = Math.min(n, start + CHUNK);
    const { x } = dataset.get(Array.from({ length: end - start }, (_, i) => start + i));
    const src = x.data;
    for (let i = 0; i < end - start; i++) {
      for (let ch = 0; ch < c; ch++) {
        const from = (i * c + ch) * h * w;
        const to = ((start + i) * c + ch) * size * size;
        for (let r = 0; r < size; r++) {
          for (let q = 0; q < size; q++) {
            let sum = 0;
            for (let a = 0; a < f; a++) for (let b = 0; b < f; b++) sum += src[from + (r * f + a) * w + q * f + b]!;
            out[to + r * size + q] = sum * inv;
          }
        }
      }
    }
  }
  return new ImageDataset({
    name: `${dataset.name}@${size}x${size}`,
    pixels: out,
    labels: Int32Array.from(dataset.labels()),
    channels: c,
    height: size,
    width: size,
    classes: dataset.classes,
    ...(dataset.classNames ? { classNames: dataset.classNames } : {}),
  });
}
