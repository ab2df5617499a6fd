import { describe, expect, it } from 'vitest';
import { contourLevels, contourLines } from '../../src/report/plots/contours.js';

const range = (from: number, to: number, n: number) => Array.from({ length: n }, (_, i) => from + ((to - from) * i) / (n - 1));
const sample = (xs: number[], ys: number[], f: (x: number, y: number) => number) => xs.map((x) => ys.map((y) => f(x, y)));
const closed = (pts: { x: number; y: number }[]) => pts[0]!.x === pts[pts.length - 1]!.x && pts[0]!.y === pts[pts.length - 1]!.y;

describe('contourLines (marching squares)', () => {
  it('traces a plane exactly: one open line with x + 2y = level at every point, ending on the border', () => {
    const xs = range(-1, 1, 17);
    const ys = range(-1, 1, 13);
    const lines = contourLines(xs, ys, sample(xs, ys, (x, y) => x + 2 * y), 0.37);
    expect(lines).toHaveLength(1);
    const pts = lines[0]!.points;
    expect(pts.length).toBeGreaterThan(10);
    for (const p of pts) expect(p.x + 2 * p.y).toBeCloseTo(0.37, 12);
    const onBorder = (p: { x: number; y: number }) => [Math.abs(p.x), Math.abs(p.y)].some((c) => Math.abs(c - 1) < 1e-12);
    expect(onBorder(pts[0]!) && onBorder(pts[pts.length - 1]!)).toBe(true);
    // consecutive points are neighbours on the grid, not jumps across it
    for (let k = 1; k < pts.length; k++) expect(Math.hypot(pts[k]!.x - pts[k - 1]!.x, pts[k]!.y - pts[k - 1]!.y)).toBeLessThan(0.3);
  });

  it('closes a bowl’s level set into one loop near the true circle', () => {
    const xs = range(-1, 1, 41);
    const lines = contourLines(xs, xs, sample(xs, xs, (x, y) => x * x + y * y), 0.25);
    expect(lines).toHaveLength(1);
    const pts = lines[0]!.points;
    expect(closed(pts)).toBe(true);
    // linear interpolation of x² over a step h errs by at most h²/4 in value, so by about h²/(4·2r) in radius
    for (const p of pts) expect(Math.abs(Math.hypot(p.x, p.y) - 0.5)).toBeLessThan(0.05 ** 2 / 4);
    const quadrants = new Set(pts.filter((p) => p.x !== 0 && p.y !== 0).map((p) => `${Math.sign(p.x)},${Math.sign(p.y)}`));
    expect(quadrants).toEqual(new Set(['1,1', '-1,1', '-1,-1', '1,-1']));
  });

  it('splits a saddle cell by its centre value: the two branches of x·y = c stay apart', () => {
    // an even number of samples puts a saddle cell around the origin (corners ±0.1)
    const xs = range(-0.9, 0.9, 10);
    const level = 0.005;
    const lines = contourLines(xs, xs, sample(xs, xs, (x, y) => x * y), level);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const signs = new Set(line.points.map((p) => Math.sign(p.x)));
      expect(signs.size).toBe(1);
      // bilinear x·y is linear along each grid edge, so the edge points are exact
      for (const p of line.points) expect(p.x * p.y).toBeCloseTo(level, 12);
    }
    const minimumDistanceToOrigin = Math.min(...lines.flatMap((l) => l.points.map((p) => Math.hypot(p.x, p.y))));
    expect(minimumDistanceToOrigin).toBeGreaterThan(0.09);
  });

  it('leaves out cells with a non-finite corner, breaking the line there', () => {
    const xs = range(-1, 1, 11);
    const z = sample(xs, xs, (x) => x);
    z[5]![5] = Number.NaN; // the sample at the origin, beside the line x = 0.05
    const whole = contourLines(xs, xs, sample(xs, xs, (x) => x), 0.05);
    const broken = contourLines(xs, xs, z, 0.05);
    expect(whole).toHaveLength(1);
    expect(broken).toHaveLength(2);
    for (const l of broken) for (const p of l.points) expect(p.x).toBeCloseTo(0.05, 12);
  });

  it('finds nothing when the level is outside the data', () => {
    const xs = range(0, 1, 5);
    expect(contourLines(xs, xs, sample(xs, xs, (x, y) => x + y), 5)).toEqual([]);
  });
});

describe('contourLevels', () => {
  it('spaces levels evenly strictly inside the range', () => {
    expect(contourLevels(0, 10, 4)).toEqual([2, 4, 6, 8]);
  });
  it('spaces them geometrically on a log scale', () => {
    const levels = contourLevels(1, 1000, 2, true);
    expect(levels[0]).toBeCloseTo(10, 10);
    expect(levels[1]).toBeCloseTo(100, 10);
  });
  it('gives none for an empty or flat range', () => {
    expect(contourLevels(3, 3, 5)).toEqual([]);
    expect(contourLevels(Infinity, -Infinity, 5)).toEqual([]);
  });
});
