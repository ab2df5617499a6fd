/** A point on a contour line, in the grid's coordinates. */
export interface ContourPoint {
  x: number;
  y: number;
}

/** One connected iso-line; closed when its first and last points coincide. */
export interface ContourLine {
  level: number;
  points: ContourPoint[];
}

// The edges of cell (i, j) are named by the grid edge they lie on, so two cells that share an edge
// produce the same key for it, which is what lets segments be chained into lines.
const horizontal = (i: number, j: number): string => `h${i},${j}`;
const vertical = (i: number, j: number): string => `v${i},${j}`;

/**
 * Marching squares: the lines where z = level, for z[i][j] sampled at (xs[i], ys[j]). Points lie on
 * grid edges, linearly interpolated between the two samples. A saddle cell is split by its centre
 * value (the mean of its corners). Cells with a non-finite corner are left out, so a diverged
 * corner of a landscape breaks the line rather than bending it.
 */
export function contourLines(xs: readonly number[], ys: readonly number[], z: readonly (readonly number[])[], level: number): ContourLine[] {
  const points = new Map<string, ContourPoint>();
  const segments: [string, string][] = [];

  const edgePoint = (key: string, xa: number, ya: number, za: number, xb: number, yb: number, zb: number): string => {
    if (!points.has(key)) {
      const t = (level - za) / (zb - za);
      points.set(key, { x: xa + t * (xb - xa), y: ya + t * (yb - ya) });
    }
    return key;
  };

  for (let i = 0; i + 1 < xs.length; i++) {
    for (let j = 0; j + 1 < ys.length; j++) {
      const x0 = xs[i]!, x1 = xs[i + 1]!, y0 = ys[j]!, y1 = ys[j + 1]!;
      const z00 = z[i]![j]!, z10 = z[i + 1]![j]!, z11 = z[i + 1]![j + 1]!, z01 = z[i]![j + 1]!;
      if (![z00, z10, z11, z01].every(Number.isFinite)) continue;
      const a00 = z00 >= level, a10 = z10 >= level, a11 = z11 >= level, a01 = z01 >= level;
      const bottom = a00 !== a10 ? edgePoint(horizontal(i, j), x0, y0, z00, x1, y0, z10) : null;
      const right = a10 !== a11 ? edgePoint(vertical(i + 1, j), x1, y0, z10, x1, y1, z11) : null;
      const top = a01 !== a11 ? edgePoint(horizontal(i, j + 1), x0, y1, z01, x1, y1, z11) : null;
      const left = a00 !== a01 ? edgePoint(vertical(i, j), x0, y0, z00, x0, y1, z01) : null;
      const crossed = [bottom, right, top, left].filter((e): e is string => e !== null);
      if (crossed.length === 2) {
        segments.push([crossed[0]!, crossed[1]!]);
      } else if (crossed.length === 4) {
        // Each corner on the other side from the centre is cut off by a segment across its two edges.
        const centreAbove = (z00 + z10 + z11 + z01) / 4 >= level;
        if (a00 !== centreAbove) segments.push([left!, bottom!]);
        if (a10 !== centreAbove) segments.push([bottom!, right!]);
        if (a11 !== centreAbove) segments.push([right!, top!]);
        if (a01 !== centreAbove) segments.push([top!, left!]);
      }
    }
  }
  return chain(segments).map((keys) => ({ level, points: keys.map((k) => points.get(k)!) }));
}

/** Joins segments that share an edge into maximal chains: open ones first, then closed loops. */
function chain(segments: readonly [string, string][]): string[][] {
  const byEdge = new Map<string, number[]>();
  segments.forEach(([a, b], s) => {
    for (const key of [a, b]) {
      const list = byEdge.get(key);
      if (list) list.push(s);
      else byEdge.set(key, [s]);
    }
  });
  const used = new Uint8Array(segments.length);
  const walk = (startSegment: number, startEdge: string): string[] => {
    const keys = [startEdge];
    let segment = startSegment;
    let from = startEdge;
    while (segment >= 0 && !used[segment]) {
      used[segment] = 1;
      const [a, b] = segments[segment]!;
      const to = a === from ? b : a;
      keys.push(to);
      segment = byEdge.get(to)!.find((s) => !used[s]) ?? -1;
      from = to;
    }
    return keys;
  };
  const lines: string[][] = [];
  for (const [edge, list] of byEdge) {
    if (list.length === 1 && !used[list[0]!]) lines.push(walk(list[0]!, edge));
  }
  for (let s = 0; s < segments.length; s++) {
    if (!used[s]) lines.push(walk(s, segments[s]![0]));
  }
  return lines;
}

/** `count` levels evenly spaced strictly inside [min, max] (geometrically when `log`). */
export function contourLevels(min: number, max: number, count: number, log = false): number[] {
  if (!(max > min) || count < 1) return [];
  if (log && min > 0) {
    const lo = Math.log(min), hi = Math.log(max);
    return Array.from({ length: count }, (_, k) => Math.exp(lo + ((k + 1) * (hi - lo)) / (count + 1)));
  }
  return Array.from({ length: count }, (_, k) => min + ((k + 1) * (max - min)) / (count + 1));
}
