import { densityOnGrid, type SlqRun } from '../../linalg/index.js';
import type { StudyResult } from '../studyResults.js';
import { finiteExtent } from '../extent.js';
import { NUMBER_FORMAT, PLOT_CONFIG, VEGA_LITE_SCHEMA, titled, type PlotSpec } from './common.js';
import { depthHeader, finalOf, variantColours } from './studyPoints.js';

const PANELS = [
  { panel: 'with vs without batch norm', variants: ['bn-res', 'nobn-res'] },
  { panel: 'with vs without residual connections', variants: ['bn-res', 'bn-nores'] },
] as const;
const GRID_POINTS = 300;
const FLOOR = 1e-7;

/**
 * The spectral densities at the end of training overlaid, per depth: BN against no BN (both with
 * residuals) and residual against none (both with BN), from each variant's lowest seed. A
 * density is smoothed from its Ritz values and weights as PyHessian does, on 300 points.
 */
export function studyEsdSpec(study: StudyResult): PlotSpec {
  const values: { depth: number; panel: string; label: string; eigenvalue: number; density: number; raw: number }[] = [];
  for (const depth of [...new Set(study.runs.map((r) => r.depth))].sort((a, b) => a - b)) {
    for (const p of PANELS) {
      for (const v of p.variants) {
        const run = study.runs.filter((r) => r.depth === depth && r.variant === v && finalOf(r)).sort((a, b) => a.seed - b.seed)[0];
        const c = run && finalOf(run);
        if (!run || !c || c.density.nodes.length === 0) continue;
        const runs = c.density.nodes.map((n, i) => ({ nodes: Float64Array.from(n), weights: Float64Array.from(c.density.weights[i]!) })) as unknown as SlqRun[];
        // a margin beyond the extreme Ritz values, so the outermost spikes are drawn whole
        const e = finiteExtent(c.density.nodes.flat());
        const span = e ? e.max - e.min : 0;
        const g = densityOnGrid(runs, { gridPoints: GRID_POINTS, overhead: Math.max(0.01, 0.05 * span) });
        g.grid.forEach((x, i) => {
          const d = g.density[i]!;
          if (Number.isFinite(x) && Number.isFinite(d)) values.push({ depth, panel: p.panel, label: run.label, eigenvalue: x, density: Math.max(d, FLOOR), raw: d });
        });
      }
    }
  }
  const colours = variantColours(study.runs, new Set(values.map((v) => v.label)));
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: titled('Eigenvalue spectral densities at the end of training', 'per depth: batch norm on/off and residual connections on/off; log-scale density'),
    config: PLOT_CONFIG,
    data: { values },
    facet: { row: depthHeader('row'), column: { field: 'panel', type: 'nominal', title: null } },
    spec: {
      width: 300,
      height: 170,
      layer: [
        {
          mark: { type: 'line', strokeWidth: 1.5, clip: true },
          encoding: {
            x: { field: 'eigenvalue', type: 'quantitative', title: 'Eigenvalue', scale: { zero: false, nice: false } },
            y: { field: 'density', type: 'quantitative', title: 'Density', scale: { type: 'log', domainMin: FLOOR }, axis: { format: '.0e' } },
            color: { field: 'label', type: 'nominal', title: 'Variant', legend: { labelLimit: 240 }, scale: colours },
          },
        },
        {
          transform: [{ filter: `datum.raw > ${FLOOR}` }],
          mark: { type: 'point', opacity: 0, size: 60, filled: true, tooltip: true },
          encoding: {
            x: { field: 'eigenvalue', type: 'quantitative' },
            y: { field: 'density', type: 'quantitative', scale: { type: 'log', domainMin: FLOOR } },
            tooltip: [
              { field: 'label', type: 'nominal', title: 'variant' },
              { field: 'eigenvalue', type: 'quantitative', title: 'eigenvalue', format: NUMBER_FORMAT },
              { field: 'raw', type: 'quantitative', title: 'density', format: NUMBER_FORMAT },
            ],
          },
        },
      ],
    },
    resolve: { scale: { x: 'independent', y: 'independent' } },
  } as PlotSpec;
}
