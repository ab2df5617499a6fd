import type { Shape } from '../tensor/index.js';
import { padShape } from './broadcast.js';

/** The shape a block of k tangents of a `shape` value has when aligned to `rank` dimensions. */
export function blockShape(k: number, shape: Shape, rank = shape.length): number[] {
  return [k, ...padShape(shape, rank)];
}
