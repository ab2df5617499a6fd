/** Median of repeated timings, after one warm-up run. */
export async function timeMedian(fn: () => unknown, repeats: number): Promise<{ medianMs: number; runsMs: number[] }> {
  await fn();
  const runs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await fn();
    runs.push(performance.now() - t);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  const m = sorted.length;
  const medianMs = m % 2 ? sorted[(m - 1) / 2]! : (sorted[m / 2 - 1]! + sorted[m / 2]!) / 2;
  return { medianMs, runsMs: runs };
}

/** Resident set size peak seen by sampling around the measured code (MiB). */
export function rssMiB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

export function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  return v === undefined ? fallback : Number.parseInt(v, 10);
}
