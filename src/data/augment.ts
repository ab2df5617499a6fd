/**
 * The CIFAR training augmentation of PyHessian (torchvision RandomCrop(32, padding=4) then
 * RandomHorizontalFlip(0.5)): each image is zero-padded by `padding` on every side, a window of
 * the original size is cut at an offset drawn uniformly from 0..2*padding in each direction, and
 * the result is mirrored left-right with probability 1/2.
 */
import { OptionError } from '../errors.js';
import { Rng, type Tensor } from '../tensor/index.js';

export interface CropFlip {
  /** Row and column of the window's top-left corner in the padded image, 0..2*padding. */
  top: number;
  left: number;
  flip: boolean;
}

export const CIFAR_CROP_PADDING = 4;

/** Draws in torchvision's order: row offset, column offset, then the flip. */
export function drawCropFlip(rng: Rng, padding = CIFAR_CROP_PADDING): CropFlip {
  const top = rng.int(2 * padding + 1);
  const left = rng.int(2 * padding + 1);
  const flip = rng.uniform() < 0.5;
  return { top, left, flip };
}

/**
 * Crops and flips image `i` of the NCHW batch `x` in place (`scratch` holds one image). Output
 * pixel (r, c) is padded(top + r, left + c'), c' = W-1-c when flipped, where padded(a, b) is
 * input(a - padding, b - padding) inside the image and 0 outside.
 */
export function cropFlipImage(x: Tensor, i: number, t: CropFlip, padding = CIFAR_CROP_PADDING, scratch?: Float32Array): void {
  const [, c, h, w] = x.shape as [number, number, number, number];
  const per = c * h * w;
  const img = x.data.subarray(i * per, (i + 1) * per);
  const src = scratch && scratch.length >= per ? scratch.subarray(0, per) : new Float32Array(per);
  src.set(img);
  const dy = t.top - padding;
  const dx = t.left - padding;
  for (let ch = 0; ch < c; ch++) {
    const p = ch * h * w;
    for (let r = 0; r < h; r++) {
      const sr = r + dy;
      const inRow = sr >= 0 && sr < h;
      for (let col = 0; col < w; col++) {
        const sc = (t.flip ? w - 1 - col : col) + dx;
        img[p + r * w + col] = inRow && sc >= 0 && sc < w ? src[p + sr * w + sc]! : 0;
      }
    }
  }
}

/** Augments every image of an NCHW batch in place; `rngFor(b)` gives the generator for image b. */
export function randomCropFlipInPlace(x: Tensor, rngFor: (b: number) => Rng, padding = CIFAR_CROP_PADDING): CropFlip[] {
  if (x.rank !== 4) throw new OptionError(`augmentation needs an NCHW batch, got shape [${x.shape.join(', ')}]`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const scratch = new Float32Array(c * h * w);
  const draws: CropFlip[] = [];
  for (let b = 0; b < n; b++) {
    const t = drawCropFlip(rngFor(b), padding);
    cropFlipImage(x, b, t, padding, scratch);
    draws.push(t);
  }
  return draws;
}
