import type { Node } from '../autodiff/index.js';
import { ShapeError } from '../errors.js';
import { formatShape } from '../tensor/index.js';
import { add, reshape } from './arithmetic.js';
import { conv2d } from './conv.js';
import { concat, narrow, place } from './layout.js';

export interface GeneralConvOptions {
  stride?: [number, number];
  /** [top, left, bottom, right] */
  pads?: [number, number, number, number];
  dilation?: [number, number];
  groups?: number;
}

/**
 * Convolution with groups, dilation and asymmetric padding, composed around the plain conv2d
 * primitive (whose kernels stay as they are): a dilated kernel is the kernel placed into zeros
 * every d-th tap, asymmetric padding places the input into zeros, and groups convolve channel
 * slices separately and concatenate the results. The common case (one group, no dilation,
 * symmetric padding) is conv2d itself, so imported networks record the same tape as built-in ones.
 */
export function convGeneral(x: Node, w: Node, opts: GeneralConvOptions = {}, bias?: Node): Node {
  if (x.shape.length !== 4 || w.shape.length !== 4) {
    throw new ShapeError(`convolution needs an NCHW input and an OIHW weight, got ${formatShape(x.shape)} and ${formatShape(w.shape)}`);
  }
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cg, kh, kw] = w.shape as [number, number, number, number];
  const groups = opts.groups ?? 1;
  const [dh, dw] = opts.dilation ?? [1, 1];
  const [pt, pl, pb, pr] = opts.pads ?? [0, 0, 0, 0];
  const stride = opts.stride ?? [1, 1];
  if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0 || O % groups !== 0) {
    throw new ShapeError(`convolution with ${groups} groups needs input channels (${C}) and output channels (${O}) divisible by the groups`);
  }
  if (C / groups !== Cg) throw new ShapeError(`convolution: the input has ${C} channels, so ${groups} groups need a weight of ${C / groups} channels, got ${formatShape(w.shape)}`);
  let kernel = w;
  if (dh !== 1 || dw !== 1) kernel = place(w, [O, Cg, (kh - 1) * dh + 1, (kw - 1) * dw + 1], [0, 0, 0, 0], [1, 1, dh, dw]);
  let input = x;
  let padding: [number, number] = [pt, pl];
  if (pt !== pb || pl !== pr) {
    input = place(x, [N, C, H + pt + pb, W + pl + pr], [0, 0, pt, pl]);
    padding = [0, 0];
  }
  const conv = { stride, padding };
  if (groups === 1) return conv2d(input, kernel, conv, bias);
  const og = O / groups;
  const parts: Node[] = [];
  for (let g = 0; g < groups; g++) parts.push(conv2d(narrow(input, 1, g * Cg, Cg), narrow(kernel, 0, g * og, og), conv));
  const y = concat(parts, 1);
  return bias ? add(y, reshape(bias, [1, O, 1, 1])) : y;
}
