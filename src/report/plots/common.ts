import type { TopLevelSpec } from 'vega-lite';

export type PlotSpec = TopLevelSpec;

export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
export const PLOT_WIDTH = 560;
export const PLOT_HEIGHT = 320;
/** Significant digits in tooltips and tables: enough to compare runs, not float noise. */
export const NUMBER_FORMAT = '.6~g';

/** Shared look: the same fonts and sizes whether rendered in Node or in the browser. */
export const PLOT_CONFIG = {
  font: 'DejaVu Sans, Liberation Sans, Helvetica, Arial, sans-serif',
  title: { fontSize: 15, anchor: 'start', subtitleColor: '#555' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#e6e6e6' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  view: { stroke: '#ccc' },
} as const;

/** JSON (and so the embedded spec) cannot hold NaN or ±Infinity: such a point is drawn as a gap. */
export function finiteOrNull(v: number | undefined): number | null {
  return v !== undefined && Number.isFinite(v) ? v : null;
}

export function titled(text: string, subtitle?: string): { text: string; subtitle?: string } {
  return subtitle ? { text, subtitle } : { text };
}
