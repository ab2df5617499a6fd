import type { PlotSpec } from './plots/common.js';
import { eigenvaluesSpec } from './plots/eigenvaluesSpec.js';
import { esdSpec } from './plots/esdSpec.js';
import { landscape1dPlotIndices, landscape1dSpec } from './plots/landscape1dSpec.js';
import { landscape2dSpec } from './plots/landscape2dSpec.js';
import { perLayerSpec } from './plots/perLayerSpec.js';
import { trainingSpec } from './plots/trainingSpec.js';
import { studyEsdSpec } from './plots/studyEsdSpec.js';
import { studySharpnessSpec } from './plots/studySharpnessSpec.js';
import { studyStagewiseSpec } from './plots/studyStagewiseSpec.js';
import { studyTrajectorySpec } from './plots/studyTrajectorySpec.js';
import { finalOf } from './plots/studyPoints.js';
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
  'study-esd',
  'study-trajectory',
  'study-stagewise',
  'study-sharpness',
] as const;
export type PlotId = (typeof PLOT_IDS)[number];

export interface ReportPlot {
  id: PlotId;
  title: string;
  spec: PlotSpec;
  /** What the plot does not show as stored (thinned points, numbers drawn at 0), for the caption and the report's list. */
  notes?: string[];
}

/**
 * Below this magnitude a number is drawn at 0. Vega's axis ticks divide by a power of ten that
 * overflows for a span under about 1e-305 (eigenvalues of 5e-324 broke the plot), and nothing
 * hesse computes from float32 weights is smaller than 1e-45 unless it is 0.
 */
export const SMALLEST_DRAWN = 1e-280;

/** A copy of a section with every number smaller than SMALLEST_DRAWN in magnitude set to 0; counts them. */
function drawable<T>(value: T, flushed: { count: number }, depth = 0): T {
  if (typeof value === 'number') {
    if (value !== 0 && Math.abs(value) < SMALLEST_DRAWN) {
      flushed.count++;
      return 0 as T;
    }
    return value;
  }
  // the numbers of a section sit at most three levels down (landscape.loss[i][j]); deeper extras are not drawn
  if (depth > 3 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => drawable(v, flushed, depth + 1)) as T;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, drawable(v, flushed, depth + 1)])) as T;
}

/** The plots the results support, in report order; a section with no numbers gives no plot. */
export function reportPlots(results: HesseResults): ReportPlot[] {
  const r = drawable(results.results, { count: 0 });
  // the density is drawn on a log axis from a floor (esdSpec), so its tails (Gaussians far out underflow) stay as they are
  if (r.density) r.density = { ...r.density, density: results.results.density!.density };
  const plots = plotsOf(r);
  // which plots the flushed numbers belong to: count again per section
  for (const p of plots) {
    const own = { count: 0 };
    const section = results.results[SECTION_OF[p.id]];
    drawable(p.id === 'esd' ? { grid: results.results.density!.grid } : section, own);
    if (own.count > 0) {
      (p.notes ??= []).push(`${own.count.toLocaleString('en-US')} value${own.count === 1 ? '' : 's'} smaller than ${SMALLEST_DRAWN} in magnitude drawn as 0 (the tables show them as stored)`);
    }
  }
  const l = r.landscape;
  const landscape1d = plots.find((p) => p.id === 'landscape-1d');
  if (l && landscape1d) {
    const shown = landscape1dPlotIndices(l.loss as number[]).length;
    if (shown < l.alphas.length) {
      (landscape1d.notes ??= []).push(
        `the plot shows ${shown.toLocaleString('en-US')} of ${l.alphas.length.toLocaleString('en-US')} points (each stretch's lowest and highest loss); results.json holds them all`,
      );
    }
  }
  return plots;
}

const SECTION_OF: Record<PlotId, keyof HesseResults['results']> = {
  eigenvalues: 'eigen',
  esd: 'density',
  'per-layer-trace': 'perLayer',
  'per-layer-top-eigenvalue': 'perLayer',
  'landscape-1d': 'landscape',
  'landscape-2d': 'landscape',
  training: 'training',
  'study-esd': 'study',
  'study-trajectory': 'study',
  'study-stagewise': 'study',
  'study-sharpness': 'study',
};

function plotsOf(r: HesseResults['results']): ReportPlot[] {
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
  const st = r.study;
  if (st) {
    const finished = st.runs.filter((run) => finalOf(run));
    const has = (v: string) => finished.some((run) => run.variant === v);
    if (has('bn-res') && (has('nobn-res') || has('bn-nores'))) plots.push({ id: 'study-esd', title: 'Spectral densities with and without BN and residual connections', spec: studyEsdSpec(st) });
    if (st.runs.some((run) => run.checkpoints.length > 0)) plots.push({ id: 'study-trajectory', title: 'Top eigenvalue and trace through training', spec: studyTrajectorySpec(st) });
    if (st.table.some((row) => row.group === 'stages' && row.topEigenvalue)) plots.push({ id: 'study-stagewise', title: 'Batch norm removed stage by stage', spec: studyStagewiseSpec(st) });
    if (finished.some((run) => finalOf(run)!.testAccuracy !== undefined)) plots.push({ id: 'study-sharpness', title: 'Test accuracy against the top eigenvalue', spec: studySharpnessSpec(st) });
  }
  return plots;
}
