/** Sample standard deviation (n - 1) over sqrt(n); NaN below two samples. */
export function standardErrorOfMean(xs: ArrayLike<number>): number {
  const count = xs.length;
  if (count < 2) return NaN;
  let mean = 0;
  for (let i = 0; i < count; i++) mean += xs[i]!;
  mean /= count;
  let ss = 0;
  for (let i = 0; i < count; i++) ss += (xs[i]! - mean) ** 2;
  return Math.sqrt(ss / (count - 1) / count);
}
