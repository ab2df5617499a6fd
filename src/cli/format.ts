/** Number formatting for summaries: 4 significant digits, exponents for the very small or large. */
export function fmt(x: number | undefined, digits = 4): string {
  if (x === undefined || Number.isNaN(x)) return 'n/a';
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e5 || a < 1e-3 ? x.toExponential(digits - 1) : Number(x.toPrecision(digits)).toString();
}

export function seconds(ms: number | undefined): string {
  return ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(1)} s`;
}

/** The smallest and largest finite values (NaN, NaN when there are none), without spreading a long array onto the stack. */
export function finiteRange(values: readonly number[]): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [NaN, NaN];
}
