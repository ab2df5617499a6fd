import { Resvg } from '@resvg/resvg-js';
import { View, parse } from 'vega';
import { collectingLogger } from './collectingLogger.js';
import { compileSpec } from './compileSpec.js';
import { resvgFontOptions } from './fonts.js';
import type { PlotSpec } from './plots/common.js';

export interface RenderOptions {
  /** Also rasterise to PNG. Default true. */
  png?: boolean;
  /** PNG pixels per SVG unit. Default 2 (sharp on high-density screens and in slides). */
  scale?: number;
}

export interface RenderedPlot {
  svg: string;
  png?: Buffer;
  /** Size of the SVG in CSS pixels. */
  width: number;
  height: number;
  warnings: string[];
}

/** Renders a Vega-Lite spec in Node: Vega's headless view writes SVG, resvg turns that into PNG. */
export async function renderPlot(spec: PlotSpec, options: RenderOptions = {}): Promise<RenderedPlot> {
  const { vega, warnings } = compileSpec(spec);
  // Vega's own logger prints to the console; the library never does
  const logger = collectingLogger(warnings, 'Vega');
  const view = new View(parse(vega), { renderer: 'none', logger: logger as never });
  let svg: string;
  try {
    svg = renumberIds(await view.toSVG());
  } finally {
    view.finalize();
  }
  const size = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
  const width = size ? Number(size[1]) : 0;
  const height = size ? Number(size[2]) : 0;
  const out: RenderedPlot = { svg, width, height, warnings };
  if (options.png ?? true) out.png = svgToPng(svg, options.scale ?? 2);
  return out;
}

/**
 * Vega numbers clip paths and gradients from a counter that lives as long as the process, so the
 * same plot rendered twice would differ in its ids; numbering them per document from 1 makes a
 * rebuilt report byte-identical to the first.
 */
function renumberIds(svg: string): string {
  const renamed = new Map<string, string>();
  for (const m of svg.matchAll(/\sid="([A-Za-z_-]*?)(\d+)"/g)) {
    if (!renamed.has(m[1]! + m[2]!)) renamed.set(m[1]! + m[2]!, `${m[1]}${renamed.size + 1}`);
  }
  if (renamed.size === 0) return svg;
  return svg.replace(/(\sid="|url\(#|href="#)([A-Za-z_-]*?\d+)(?=[")])/g, (whole, lead: string, id: string) => {
    const to = renamed.get(id);
    return to === undefined ? whole : lead + to;
  });
}

export function svgToPng(svg: string, scale = 2): Buffer {
  const image = new Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, font: resvgFontOptions(), background: 'white' }).render();
  return image.asPng();
}
