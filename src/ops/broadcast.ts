import { ShapeError } from '../errors.js';
import { formatShape, sizeOf, type Shape } from '../tensor/index.js';

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
 * Calls `row(offsets, strides, length)` for every innermost row of the broadcast iteration over
 * `outShape`, with one offset and stride per operand (the output is operand 0, contiguous).
 */
export function forEachRow(
  outShape: Shape,
  operandShapes: readonly Shape[],
  row: (offsets: number[], innerStrides: number[], length: number) => void,
): void {
  if (sizeOf(outShape) === 0) return;
  const all = [outShape, ...operandShapes].map((s) => alignedStrides(s, outShape));
  const { shape, strides } = coalesce([...outShape], all);
  const d = shape.length;
  const inner = shape[d - 1]!;
  const innerStrides = strides.map((s) => s[d - 1]!);
  const counters = new Array<number>(d - 1).fill(0);
  const offsets = new Array<number>(strides.length).fill(0);
  for (;;) {
    row(offsets, innerStrides, inner);
    let axis = d - 2;
    while (axis >= 0) {
      counters[axis]!++;
      for (let j = 0; j < strides.length; j++) offsets[j]! += strides[j]![axis]!;
      if (counters[axis]! < shape[axis]!) break;
      for (let j = 0; j < strides.length; j++) offsets[j]! -= strides[j]![axis]! * shape[axis]!;
      counters[axis] = 0;
      axis--;
    }
    if (axis < 0) return;
  }
}
