import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileFormatError } from '../../src/errors.js';
import { PLOT_IDS, createResults, rebuildReport, writeReport, type ReportFiles } from '../../src/report/index.js';
import { pngSize } from './svgMarks.js';
import { landscape2d, syntheticResults } from './syntheticResults.js';

let root: string;
let full: string;
let files: ReportFiles;
// the study's plots need a study section, which these results have not
const singleRunPlots = PLOT_IDS.filter((id) => !id.startsWith('study-'));
const allButTwoD = singleRunPlots.filter((id) => id !== 'landscape-2d');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hesse-report-'));
  full = join(root, 'full');
  files = await writeReport(full, syntheticResults());
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const plotFiles = async (dir: string) => (await readdir(join(dir, 'plots'))).sort();
const expectedPlotFiles = (ids: readonly string[], exts = ['.png', '.svg', '.vl.json']) => ids.flatMap((id) => exts.map((e) => id + e)).sort();

describe('writeReport', () => {
  it('writes results.json, every plot as SVG, PNG and spec, and index.html', async () => {
    expect((await readdir(full)).sort()).toEqual(['index.html', 'plots', 'results.json']);
    expect(await plotFiles(full)).toEqual(expectedPlotFiles(allButTwoD));
    expect(files.plots.map((p) => p.id)).toEqual(['eigenvalues', 'esd', 'per-layer-trace', 'per-layer-top-eigenvalue', 'landscape-1d', 'training']);
    expect(files.warnings).toEqual([]);
    expect(files.index).toBe(join(full, 'index.html'));
    for (const p of files.plots) {
      expect(await readFile(p.svg, 'utf8')).toMatch(/^<svg [^>]*class="marks"/);
      expect(pngSize(await readFile(p.png!)).width).toBeGreaterThan(400);
      expect(JSON.parse(await readFile(p.spec, 'utf8'))).toHaveProperty('$schema');
    }
  });

  it('puts the numbers, the specs and the viewers into one page that loads nothing from outside', async () => {
    const html = await readFile(files.index, 'utf8');
    for (const id of files.plots.map((p) => p.id)) {
      expect(html).toContain(`data-hesse-plot="${id}"`);
      expect(html).toContain(`<script type="application/json" id="spec-${id}">`);
      expect(html).toContain(`<noscript><img src="plots/${id}.png"`);
    }
    for (const text of ['41.2', 'tr(H) ≈ 312.4 ± 4.2', 'lanczos', 'hutch++', 'reference (test)', 'layer1.0.conv2.weight', 'resnet8 (BN, residual)', '1.23 s']) {
      expect(html).toContain(text);
    }
    expect(html).toContain(`hesse version</th><td>${syntheticResults().hesse.version}`);
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href=/);
    expect(html.length).toBeGreaterThan(700_000); // Vega and Vega-Lite are inlined
  });

  it('rebuildReport from results.json reproduces every file byte for byte', async () => {
    const before = new Map<string, Buffer>();
    for (const f of [files.index, ...files.plots.flatMap((p) => [p.svg, p.png!, p.spec])]) before.set(f, await readFile(f));
    const resultsBefore = await readFile(join(full, 'results.json'));
    await Promise.all([...before.keys()].map((f) => rm(f)));
    const rebuilt = await rebuildReport(full);
    expect(rebuilt.plots.map((p) => p.id)).toEqual(files.plots.map((p) => p.id));
    for (const [f, bytes] of before) expect((await readFile(f)).equals(bytes), f).toBe(true);
    expect((await readFile(join(full, 'results.json'))).equals(resultsBefore)).toBe(true);
  });

  it('replaces the plots of an earlier report in the same directory: a 2-D landscape, no PNGs', async () => {
    const dir = join(root, 'reused');
    await writeReport(dir, syntheticResults());
    const r = syntheticResults();
    r.results.landscape = landscape2d(7);
    const second = await writeReport(dir, r, { png: false });
    expect(second.plots.map((p) => p.id)).toContain('landscape-2d');
    expect(await plotFiles(dir)).toEqual(expectedPlotFiles(singleRunPlots.filter((id) => id !== 'landscape-1d'), ['.svg', '.vl.json']));
    const html = await readFile(second.index, 'utf8');
    expect(html).toContain('<noscript><img src="plots/landscape-2d.svg"');
    expect(html).not.toContain('landscape-1d');
  });

  it('shows only the sections the results hold', async () => {
    const dir = join(root, 'eigen-only');
    const r = createResults({
      command: 'analyze',
      kernels: 'reference',
      inputs: { model: { description: 'mlp' }, data: { description: 'synthetic' }, samples: { hessian: 32 } },
      options: { seed: 3 },
      results: { eigen: { method: 'power', values: [2.5], products: 20, ms: 5 } },
    });
    const out = await writeReport(dir, r);
    expect(out.plots.map((p) => p.id)).toEqual(['eigenvalues']);
    expect(await plotFiles(dir)).toEqual(expectedPlotFiles(['eigenvalues']));
    const html = await readFile(out.index, 'utf8');
    expect(html).toContain('<section id="eigenvalues">');
    for (const absent of ['trace', 'density', 'diagonal', 'per-layer', 'landscape', 'training', 'cost']) {
      expect(html).not.toContain(`<section id="${absent}">`);
    }
  });

  it('rebuildReport on a malformed or missing results.json: FileFormatError naming the file, nothing written', async () => {
    const dir = join(root, 'broken');
    await writeReport(dir, syntheticResults(), { png: false });
    const indexBefore = (await stat(join(dir, 'index.html'))).mtimeMs;
    await writeFile(join(dir, 'results.json'), '{"hesse": {"version": "0.1.0"}, "command": "analyze", "results": {"density": {"grid": [0, 1], "density": "dense"}}}');
    const err = await rebuildReport(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as Error).message).toContain(join(dir, 'results.json'));
    expect((err as Error).message).toMatch(/results\.density\.density must be an array of numbers/);
    expect((await stat(join(dir, 'index.html'))).mtimeMs).toBe(indexBefore);
    await expect(rebuildReport(join(root, 'never-written'))).rejects.toThrow(/results\.json is missing/);
  });

  it('writeReport refuses a malformed results object before writing anything', async () => {
    const r = syntheticResults();
    (r.results.eigen as { values: unknown }).values = 'many';
    await expect(writeReport(join(root, 'refused'), r)).rejects.toThrow(/results\.eigen\.values must be an array of numbers/);
    await expect(stat(join(root, 'refused'))).rejects.toThrow();
  });
});
