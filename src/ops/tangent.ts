import { sizeOf, Tensor, type Shape } from '../tensor/index.js';
import { padShape } from './broadcast.js';

/** The shape a block of k tangents of a `shape` value has when aligned to `rank` dimensions. */
export function blockShape(k: number, shape: Shape, rank = shape.length): number[] {
  return [k, ...padShape(shape, rank)];
}

/** A zero tangent block for a value of `shape`. */
export function zeroBlock(k: number, shape: Shape): Tensor {
  return new Tensor([k, ...shape], new Float32Array(k * sizeOf(shape)));
}
