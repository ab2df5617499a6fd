import type { PlotSpec } from './plots/common.js';
import { eigenvaluesSpec } from './plots/eigenvaluesSpec.js';
import { esdSpec } from './plots/esdSpec.js';
import { landscape1dSpec } from './plots/landscape1dSpec.js';
import { landscape2dSpec } from './plots/landscape2dSpec.js';
import { perLayerSpec } from './plots/perLayerSpec.js';
import { trainingSpec } from './plots/trainingSpec.js';
import type { HesseResults } from './results.js';

/** Every plot a report can hold; the id names its files in plots/ and its place in index.html. */
export const PLOT_IDS = [
  'eigenvalues',
  'esd',
  'per-layer-trace',
  'per-layer-top-eigenvalue',
  'landscape-1d',
  'landscape-2d',
  'training',
] as const;
export type PlotId = (typeof PLOT_IDS)[number];

export interface ReportPlot {
  id: PlotId;
  title: string;
  spec: PlotSpec;
}

/** The plots the results support, in report order; a section with no numbers gives no plot. */
export function reportPlots(results: HesseResults): ReportPlot[] {
  const r = results.results;
  const plots: ReportPlot[] = [];
  if (r.eigen && r.eigen.values.length > 0) plots.push({ id: 'eigenvalues', title: 'Top eigenvalues', spec: eigenvaluesSpec(r.eigen) });
  if (r.density && r.density.grid.length > 1) plots.push({ id: 'esd', title: 'Eigenvalue spectral density', spec: esdSpec(r.density) });
  if (r.perLayer?.some((l) => l.trace !== undefined)) {
    plots.push({ id: 'per-layer-trace', title: 'Trace per layer', spec: perLayerSpec(r.perLayer, 'trace') });
  }
  if (r.perLayer?.some((l) => l.topEigenvalue !== undefined)) {
    plots.push({ id: 'per-layer-top-eigenvalue', title: 'Top eigenvalue per layer', spec: perLayerSpec(r.perLayer, 'topEigenvalue') });
  }
  if (r.landscape && r.landscape.alphas.length > 0) {
    if (r.landscape.dims === 1) plots.push({ id: 'landscape-1d', title: 'Loss landscape (1-D)', spec: landscape1dSpec(r.landscape) });
    else if ((r.landscape.betas?.length ?? 0) > 0) {
      plots.push({ id: 'landscape-2d', title: 'Loss landscape (2-D)', spec: landscape2dSpec(r.landscape) });
    }
  }
  if (r.training && r.training.epochs.length > 0) plots.push({ id: 'training', title: 'Training curves', spec: trainingSpec(r.training) });
  return plots;
}
