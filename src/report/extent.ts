/**
 * The smallest and largest finite values, or undefined when there are none. A loop, because
 * spreading a long array into Math.min or Math.max passes every element as an argument and
 * overflows the call stack (a 1-D landscape of 200,000 points did).
 */
export function finiteExtent(values: Iterable<number>): { min: number; max: number } | undefined {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min <= max ? { min, max } : undefined;
}
