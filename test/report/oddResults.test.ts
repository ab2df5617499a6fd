import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { formatValue } from '../../src/report/htmlFormat.js';
import {
  eigenvaluesSpec,
  finiteExtent,
  landscape1dPlotIndices,
  MAX_OPTION_DEPTH,
  rebuildReport,
  renderPlot,
  resultsToJson,
} from '../../src/report/index.js';
import { markItems } from './svgMarks.js';
import { syntheticResults } from './syntheticResults.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hesse-odd-results-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A results directory holding `text` as results.json (what `hesse report DIR` reads). */
async function resultsDir(name: string, text: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'results.json'), text);
  return dir;
}

/** The synthetic results as plain JSON, edited by `edit`. */
function edited(edit: (r: Record<string, any>) => void): string {
  const r = JSON.parse(resultsToJson(syntheticResults())) as Record<string, any>;
  edit(r);
  return JSON.stringify(r);
}

describe('hesse report on results it can only partly show', () => {
  it('argv that is not a list of strings: the report is written without the command line, and says so', async () => {
    for (const [name, argv, type] of [
      ['argv-string', 'analyze --model m', 'a string'],
      ['argv-numbers', [1, { a: 2 }], 'an array with other values than strings'],
    ] as const) {
      const dir = await resultsDir(name, edited((r) => void (r.argv = argv)));
      const files = await rebuildReport(dir, { png: false });
      expect(files.skipped).toEqual([`argv: must be a list of strings, got ${type}; the command line is left out of the report`]);
      const html = await readFile(files.index, 'utf8');
      expect(html).not.toContain('command line</th>');
      expect(html).toContain('<section id="skipped">');
      expect(html).toContain('argv: must be a list of strings');
      expect(html).toContain('<section id="eigenvalues">');
    }
  });

  it('an option nested 100,000 levels deep is left out by name; the other options are shown', async () => {
    const depth = 100_000;
    const text = edited((r) => void (r.options.deep = 'DEEP')).replace('"DEEP"', `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
    const files = await rebuildReport(await resultsDir('deep-options', text), { png: false });
    expect(files.skipped).toEqual([`options.deep: nested more than ${MAX_OPTION_DEPTH} levels deep; left out of the report`]);
    const html = await readFile(files.index, 'utf8');
    expect(html).toContain('<th scope="row">eigenMethod</th><td>lanczos</td>');
    expect(html).not.toContain('<th scope="row">deep</th>');
  });

  it('an option just inside the depth limit is shown', async () => {
    let nested: unknown = 1;
    for (let i = 0; i < MAX_OPTION_DEPTH; i++) nested = { a: nested };
    const files = await rebuildReport(await resultsDir('deep-enough', edited((r) => void (r.options.nested = nested))), { png: false });
    expect(files.skipped).toEqual([]);
    expect(await readFile(files.index, 'utf8')).toContain('<th scope="row">nested</th>');
  });

  it('a 1-D landscape of 200,000 points: summarised in full, plotted thinned to each stretch’s lowest and highest loss', async () => {
    const n = 200_000;
    const alphas = Array.from({ length: n }, (_, i) => -1 + (2 * i) / (n - 1));
    // a bowl with a narrow notch off-centre: thinning must keep the notch's bottom
    const loss = alphas.map((a, i) => 0.5 + a * a - (i === 123_457 ? 0.4 : 0));
    const text = edited((r) => void (r.results.landscape = { dims: 1, directions: 'random', alphas, loss, accuracy: loss.map(() => 0.5), originLoss: 0.5 }));
    const files = await rebuildReport(await resultsDir('long-landscape', text), { png: false });
    const html = await readFile(files.index, 'utf8');
    expect(html).toContain('<th scope="row">α range</th><td>-1 … 1 (200,000 points)</td>');
    expect(html).toContain(`<th scope="row">lowest loss</th><td>${String(Number((loss[123_457]!).toPrecision(6)))}</td>`);
    const plot = files.plots.find((p) => p.id === 'landscape-1d')!;
    const spec = JSON.parse(await readFile(plot.spec, 'utf8')) as { data: { values: { alpha: number; loss: number }[] } };
    const shown = spec.data.values;
    expect(shown.length).toBeLessThanOrEqual(2000);
    expect(shown.length).toBeGreaterThan(1000);
    expect(Math.min(...shown.map((p) => p.loss))).toBe(loss[123_457]);
    expect(shown[0]!.alpha).toBe(-1);
    expect(shown.at(-1)!.alpha).toBe(1);
    expect(files.skipped).toEqual([
      `Loss landscape (1-D): the plot shows ${shown.length.toLocaleString('en-US')} of 200,000 points (each stretch's lowest and highest loss); results.json holds them all`,
    ]);
  });

  it('eigenvalues of 5e-324 (and a density grid of them) are drawn at 0, shown as stored in the tables, and the report says so', async () => {
    const tiny = 5e-324;
    const text = edited((r) => {
      r.results.eigen.values = [tiny, -tiny, 0];
      r.results.eigen.residuals = [0, 0, 0];
      r.results.density.grid = (r.results.density.grid as number[]).map((x) => x * tiny);
    });
    const files = await rebuildReport(await resultsDir('tiny', text), { png: true });
    expect(files.plots.map((p) => p.id)).toContain('eigenvalues');
    const eig = files.plots.find((p) => p.id === 'eigenvalues')!;
    expect(markItems(await readFile(eig.svg, 'utf8'), 'rect')).toHaveLength(3);
    expect(files.skipped).toContain('Top eigenvalues: 2 values smaller than 1e-280 in magnitude drawn as 0 (the tables show them as stored)');
    expect(files.skipped.some((s) => s.startsWith('Eigenvalue spectral density: '))).toBe(true);
    expect(await readFile(files.index, 'utf8')).toContain('<td>4.94066e-324</td>');
  });
});

describe('the pieces', () => {
  it('finiteExtent takes the extremes of any length, ignoring non-finite values', () => {
    const long = Float64Array.from({ length: 500_000 }, (_, i) => Math.sin(i));
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of long) {
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    expect(finiteExtent(long)).toEqual({ min: lo, max: hi });
    expect(finiteExtent([NaN, 3, -Infinity, 2])).toEqual({ min: 2, max: 3 });
    expect(finiteExtent([NaN])).toBeUndefined();
  });

  it('landscape1dPlotIndices keeps every point of a short curve, and the extremes and ends of a long one', () => {
    expect(landscape1dPlotIndices([3, 1, 2])).toEqual([0, 1, 2]);
    const loss = Array.from({ length: 10_001 }, (_, i) => Math.cos(i / 50));
    loss[777] = -5;
    loss[9000] = 9;
    const kept = landscape1dPlotIndices(loss, 100);
    expect(kept.length).toBeLessThanOrEqual(100);
    expect(kept).toEqual([...kept].sort((a, b) => a - b));
    for (const i of [0, 777, 9000, 10_000]) expect(kept).toContain(i);
  });

  it('a table cell of a value nested too deeply to stringify says so instead of overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(formatValue(deep)).toBe('(nested too deeply to show)');
    expect(formatValue({ a: [1, 2] })).toBe('{"a":[1,2]}');
  });

  it('a plot Vega cannot draw fails without printing: Vega’s logger is the library’s', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      await expect(renderPlot(eigenvaluesSpec({ method: 'x', values: [5e-324, -5e-324] }), { png: false })).rejects.toThrow();
      expect(error).not.toHaveBeenCalled();
      expect(warn).not.toHaveBeenCalled();
    } finally {
      error.mockRestore();
      warn.mockRestore();
    }
  });
});
