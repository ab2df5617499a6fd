import { Resvg } from '@resvg/resvg-js';
import { parse } from 'vega';
import { describe, expect, it } from 'vitest';
import {
  compileSpec,
  eigenvaluesSpec,
  esdSpec,
  landscape1dSpec,
  landscape2dSpec,
  peakPreservingIndices,
  perLayerSpec,
  renderPlot,
  resvgFontOptions,
  trainingSpec,
  type PlotSpec,
} from '../../src/report/index.js';
import { markItems, pngSize } from './svgMarks.js';
import { landscape1d, landscape2d, syntheticResults } from './syntheticResults.js';

const sections = syntheticResults().results;

/** Every item of a mark carries a tooltip: Vega writes the tooltip's fields into its aria-label. */
function expectTooltips(items: string[], field: string): void {
  expect(items.length).toBeGreaterThan(0);
  for (const item of items) expect(item).toMatch(new RegExp(`aria-label="[^"]*${field}: `));
}

function compiles(spec: PlotSpec): void {
  const { vega, warnings } = compileSpec(spec);
  expect(warnings).toEqual([]);
  expect(() => parse(vega)).not.toThrow();
  const s = spec as { title?: { text?: string } };
  expect(s.title?.text?.length).toBeGreaterThan(0);
}

/** Axis titles as Vega labels them: "X-axis titled 'Eigenvalue' ...". */
function axisTitles(svg: string): string[] {
  return [...svg.matchAll(/aria-label="[XY]-axis titled '([^']+)'/g)].map((m) => m[1]!);
}

describe('ESD plot', () => {
  it('keeps each stretch’s peak when thinning the grid', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => (i === 4321 ? 5 : Math.sin(i / 50) ** 2));
    const kept = peakPreservingIndices(values, 500);
    expect(kept.length).toBeLessThanOrEqual(500);
    expect(kept).toContain(4321);
    expect(kept[0]).toBe(0);
    expect(kept[kept.length - 1]).toBe(9999);
    for (let k = 1; k < kept.length; k++) expect(kept[k]).toBeGreaterThan(kept[k - 1]!);
    expect(peakPreservingIndices([1, 2, 3], 500)).toEqual([0, 1, 2]);
  });

  it('plots the density on a log axis with tiny values clipped to a floor, and renders a line with hover targets', async () => {
    const density = sections.density!;
    const spec = esdSpec(density, { floor: 1e-9 });
    compiles(spec);
    const layers = (spec as unknown as { layer: { data: { values: { density: number; raw: number }[] } }[] }).layer;
    const line = layers[0]!.data.values;
    expect(Math.min(...line.map((v) => v.density))).toBe(1e-9); // the gaps between spectral clusters sit on the floor
    expect(Math.max(...line.map((v) => v.density))).toBe(Math.max(...density.density));
    expect((spec as unknown as { encoding: { y: { scale: { type: string } } } }).encoding.y.scale.type).toBe('log');

    const { svg, png, width, height } = await renderPlot(spec);
    const lines = markItems(svg, 'line');
    expect(lines).toHaveLength(1);
    expect((lines[0]!.match(/[ML]/g) ?? []).length).toBe(line.length); // one vertex per kept sample
    expectTooltips(markItems(svg, 'symbol'), 'density');
    expect(axisTitles(svg)).toEqual(['Eigenvalue', 'Density (log scale)']);
    expect(pngSize(png!)).toEqual({ width: Math.round(width * 2), height: Math.round(height * 2) });
    expect(width).toBeGreaterThan(500);
  });
});

describe('top eigenvalues plot', () => {
  it('draws one bar per eigenvalue, heights proportional to the values', async () => {
    const eigen = sections.eigen!;
    const spec = eigenvaluesSpec(eigen);
    compiles(spec);
    const { svg } = await renderPlot(spec, { png: false });
    const bars = markItems(svg, 'rect');
    expect(bars).toHaveLength(eigen.values.length);
    expectTooltips(bars, 'eigenvalue');
    const heights = bars.map((b) => Number(/d="M[^h]+h[^v]+v([-\d.e]+)/.exec(b)![1]));
    // heights are |λ| times one pixels-per-unit factor: compare ratios to the largest
    heights.forEach((h, i) => expect(Math.abs(h) / heights[0]!).toBeCloseTo(Math.abs(eigen.values[i]!) / eigen.values[0]!, 3));
    expect(axisTitles(svg)).toEqual(['Rank (largest first)', 'Eigenvalue']);
  });
});

describe('per-layer plots', () => {
  it('lists layers in model order with a bar per layer and error bars for the trace', async () => {
    const layers = sections.perLayer!;
    const spec = perLayerSpec(layers, 'trace');
    compiles(spec);
    const { svg } = await renderPlot(spec, { png: false });
    const bars = markItems(svg, 'rect');
    expect(bars).toHaveLength(layers.length);
    expectTooltips(bars, 'trace');
    expect(markItems(svg, 'rule')).toHaveLength(layers.length);
    // the y axis's labels, top to bottom, are the layer names in the order given (not alphabetical)
    const labels = [...svg.matchAll(/<text[^>]*transform="translate\(([-\d.]+),([-\d.]+)\)"[^>]*>([^<]+)<\/text>/g)]
      .filter((m) => layers.some((l) => l.name.startsWith(m[3]!.replace('…', ''))))
      .sort((a, b) => Number(a[2]) - Number(b[2]))
      .map((m) => m[3]!.replace('…', ''));
    expect(labels).toHaveLength(layers.length);
    labels.forEach((label, i) => expect(layers[i]!.name.startsWith(label)).toBe(true));
  });

  it('draws top eigenvalues per layer without error bars', async () => {
    const spec = perLayerSpec(sections.perLayer!, 'topEigenvalue');
    compiles(spec);
    const { svg } = await renderPlot(spec, { png: false });
    expect(markItems(svg, 'rect')).toHaveLength(sections.perLayer!.length);
    expect(markItems(svg, 'rule')).toHaveLength(0);
  });
});

describe('landscape plots', () => {
  it('1-D: loss and accuracy curves on their own axes, with a point per step', async () => {
    const l = landscape1d();
    const spec = landscape1dSpec(l);
    compiles(spec);
    const { svg, png } = await renderPlot(spec);
    expect(markItems(svg, 'line')).toHaveLength(2);
    const points = markItems(svg, 'symbol');
    expect(points).toHaveLength(2 * l.alphas.length);
    expectTooltips(points, 'loss');
    expect(axisTitles(svg)).toEqual(['Step α along the direction', 'Loss', 'Accuracy']);
    expect(pngSize(png!).width).toBeGreaterThan(1000);
  });

  it('1-D without accuracy: a single curve', async () => {
    const { accuracy: _, ...l } = landscape1d();
    const spec = landscape1dSpec(l);
    compiles(spec);
    const { svg } = await renderPlot(spec, { png: false });
    expect(markItems(svg, 'line')).toHaveLength(1);
  });

  it('2-D: a heatmap cell per grid point and iso-loss lines over it', async () => {
    const l = landscape2d(9);
    const spec = landscape2dSpec(l, { levels: 6 });
    compiles(spec);
    const { svg, png } = await renderPlot(spec);
    const cells = markItems(svg, 'rect');
    expect(cells).toHaveLength(81);
    expectTooltips(cells, 'loss');
    const lines = markItems(svg, 'line');
    expect(lines.length).toBeGreaterThanOrEqual(6); // at least one line per level
    expectTooltips(lines, 'iso-loss level');
    expect(axisTitles(svg)).toEqual(['Step α along direction 1', 'Step β along direction 2']);
    expect(pngSize(png!).height).toBeGreaterThan(800);
  });

  it('2-D: a diverged (NaN) point leaves a gap instead of breaking the plot', async () => {
    const l = landscape2d(7);
    (l.loss as number[][])[3]![3] = Number.NaN;
    const spec = landscape2dSpec(l);
    compiles(spec);
    const { svg } = await renderPlot(spec, { png: false });
    expect(markItems(svg, 'rect')).toHaveLength(48);
  });
});

describe('training plot', () => {
  it('shows loss and accuracy against epoch for train and test', async () => {
    const t = sections.training!;
    const spec = trainingSpec(t);
    compiles(spec);
    const { svg } = await renderPlot(spec, { png: false });
    expect(markItems(svg, 'line')).toHaveLength(4); // {loss, accuracy} × {train, test}
    const points = markItems(svg, 'symbol');
    expect(points).toHaveLength(4 * t.epochs.length);
    expectTooltips(points, 'epoch');
    expect(axisTitles(svg)).toEqual(['Epoch', 'Loss', 'Epoch', 'Accuracy']);
  });
});

describe('PNG text', () => {
  it('sets the labels in a font that exists, so the PNG has text', () => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60"><rect width="200" height="60" fill="white"/><text x="10" y="45" font-family="sans-serif" font-size="40">HESSE</text></svg>`;
    const dark = (font: object) => {
      const pixels = new Resvg(svg, { font, background: 'white' }).render().pixels; // RGBA, a copy per access
      let n = 0;
      for (let i = 0; i < pixels.length; i += 4) if (pixels[i]! < 128) n++;
      return n;
    };
    expect(dark(resvgFontOptions())).toBeGreaterThan(500);
    expect(dark({ loadSystemFonts: false })).toBe(0); // the same text with no fonts draws nothing: the check can fail
  });
});
