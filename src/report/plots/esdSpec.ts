import type { DensityResult } from '../results.js';
import { NUMBER_FORMAT, PLOT_CONFIG, PLOT_HEIGHT, PLOT_WIDTH, VEGA_LITE_SCHEMA, titled, type PlotSpec } from './common.js';

export interface EsdPlotOptions {
  /**
   * Densities below this are drawn at it, so the log axis has a bottom (PyHessian plots
   * density + 1e-7 for the same reason). Default min(1e-7, 1e-6 · peak).
   */
  floor?: number;
  /** The grid is thinned to at most this many points, keeping each stretch's peak. Default 1000. */
  maxPoints?: number;
  /** Samples that carry a tooltip (hover targets), spread evenly over the thinned curve. Default 250. */
  tooltipPoints?: number;
}

/**
 * Indices of at most about `maxPoints` samples: the grid is cut into equal stretches and the
 * highest sample of each is kept, so the narrow spikes of an SLQ density survive the thinning.
 */
export function peakPreservingIndices(values: readonly number[], maxPoints: number): number[] {
  const n = values.length;
  if (n <= maxPoints) return Array.from({ length: n }, (_, i) => i);
  const buckets = Math.max(1, maxPoints - 2);
  const keep = [0];
  for (let b = 0; b < buckets; b++) {
    const start = 1 + Math.floor((b * (n - 2)) / buckets);
    const end = 1 + Math.floor(((b + 1) * (n - 2)) / buckets);
    let best = start;
    for (let i = start + 1; i < end; i++) if (values[i]! > values[best]!) best = i;
    if (start < end) keep.push(best);
  }
  keep.push(n - 1);
  return keep;
}

/** The eigenvalue spectral density on a log-scale y axis, as PyHessian's density_plot. */
export function esdSpec(density: Pick<DensityResult, 'grid' | 'density'> & Partial<DensityResult>, options: EsdPlotOptions = {}): PlotSpec {
  let peak = 0;
  for (const d of density.density) if (Number.isFinite(d) && d > peak) peak = d;
  const floor = options.floor ?? (peak > 0 ? Math.min(1e-7, peak * 1e-6) : 1e-7);
  const indices = peakPreservingIndices(density.density.map((d) => (Number.isFinite(d) ? d : -Infinity)), options.maxPoints ?? 1000);
  const values = indices
    .filter((i) => Number.isFinite(density.grid[i]!) && Number.isFinite(density.density[i]!))
    .map((i) => ({ eigenvalue: density.grid[i]!, density: Math.max(density.density[i]!, floor), raw: density.density[i]! }));
  const setup = density.probes !== undefined && density.steps !== undefined
    ? `SLQ: ${density.probes} probe${density.probes === 1 ? '' : 's'} × ${density.steps} Lanczos steps, ${density.reorthogonalization ?? 'full'} reorthogonalization`
    : undefined;
  const stride = Math.max(1, Math.ceil(values.length / (options.tooltipPoints ?? 250)));
  const targets = values.filter((_, k) => k % stride === 0 || k === values.length - 1);
  const tooltip = [
    { field: 'eigenvalue', type: 'quantitative', title: 'eigenvalue', format: NUMBER_FORMAT },
    { field: 'raw', type: 'quantitative', title: 'density', format: NUMBER_FORMAT },
  ] as const;
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: titled('Eigenvalue spectral density (ESD)', setup),
    width: PLOT_WIDTH,
    height: PLOT_HEIGHT,
    config: PLOT_CONFIG,
    encoding: {
      x: { field: 'eigenvalue', type: 'quantitative', title: 'Eigenvalue', scale: { zero: false, nice: false } },
      y: {
        field: 'density',
        type: 'quantitative',
        title: 'Density (log scale)',
        scale: { type: 'log', domainMin: floor },
        axis: { format: '.0e' },
      },
    },
    layer: [
      { data: { values }, mark: { type: 'line', color: '#1f77b4', strokeWidth: 1.5, clip: true } },
      // Invisible points are the hover targets, since a line mark is one path with one datum.
      {
        data: { values: targets },
        mark: { type: 'point', opacity: 0, size: 80, filled: true, clip: true, tooltip: true },
        encoding: { tooltip: [...tooltip] },
      },
    ],
  };
}
