import { ShapeError } from '../errors.js';
import { formatShape, type Shape } from '../tensor/index.js';

/** NumPy broadcasting of two shapes (right-aligned; a dimension of 1 stretches). */
export function broadcastShape(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** `shape` left-padded with ones to `rank` dimensions. */
export function padShape(shape: Shape, rank: number): number[] {
  return [...new Array<number>(Math.max(0, rank - shape.length)).fill(1), ...shape];
}

/** Strides of `shape` (row-major) seen from `outShape`: 0 along broadcast dimensions. */
function alignedStrides(shape: Shape, outShape: Shape): number[] {
  const padded = padShape(shape, outShape.length);
  const strides = new Array<number>(outShape.length).fill(0);
  let s = 1;
  for (let i = outShape.length - 1; i >= 0; i--) {
    if (padded[i] === outShape[i]) strides[i] = padded[i] === 1 ? 0 : s;
    else if (padded[i] !== 1) throw new ShapeError(`shape ${formatShape(shape)} does not broadcast to ${formatShape(outShape)}`);
    s *= padded[i]!;
  }
  return strides;
}

/**
 * Merges adjacent dimensions that every operand walks contiguously (or not at all), so the
 * innermost loop is as long as possible: [N,C,H,W] against [1,C,1,1] becomes [N,C,H*W].
 */
function coalesce(shape: number[], strides: number[][]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((st, j) => outStrides[j]![last] === st[i]! * shape[i]!)) {
      outShape[last] = outShape[last]! * shape[i]!;
      strides.forEach((st, j) => (outStrides[j]![last] = st[i]!));
    } else {
      outShape.push(shape[i]!);
      strides.forEach((st, j) => outStrides[j]!.push(st[i]!));
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    strides.forEach((_, j) => outStrides[j]!.push(0));
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * The kernels' description of an iteration over `iterShape` (contiguous, like the output of a
 * binary op): [rank, shape..., strides of each operand...], broadcast dimensions at stride 0 and
 * dimensions that every operand walks contiguously merged, so the innermost rows are long.
 */
export function geometry(iterShape: Shape, operandShapes: readonly Shape[]): Float64Array {
  const all = [iterShape, ...operandShapes].map((s) => alignedStrides(s, iterShape));
  const { shape, strides } = coalesce([...iterShape], all);
  const r = shape.length;
  const g = new Float64Array(1 + r * (1 + operandShapes.length));
  g[0] = r;
  g.set(shape, 1);
  strides.slice(1).forEach((st, i) => g.set(st, 1 + r * (1 + i)));
  return g;
}
