import type { StudyResult } from '../studyResults.js';
import { NUMBER_FORMAT, PLOT_CONFIG, VEGA_LITE_SCHEMA, titled, type PlotSpec } from './common.js';
import { depthHeader, variantColours } from './studyPoints.js';

const ORDER = ['bn-res', 'nobn-stem', 'nobn-stage1', 'nobn-stage2', 'nobn-stage3'];

/** The final top eigenvalue with BN everywhere and with BN removed from one part, per depth (mean over seeds, ± one sd). */
export function studyStagewiseSpec(study: StudyResult): PlotSpec {
  const values = study.table
    .filter((r) => ORDER.includes(r.variant) && r.topEigenvalue)
    .map((r) => {
      const c = r.topEigenvalue!;
      const sd = c.sd ?? 0;
      return { depth: r.depth, label: r.label, order: ORDER.indexOf(r.variant), mean: c.mean, low: c.mean - sd, high: c.mean + sd, seeds: c.values.length };
    });
  const labels = [...new Map(values.sort((a, b) => a.order - b.order).map((v) => [v.label, v.order])).keys()];
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: titled('Where batch norm matters', 'final top eigenvalue with BN everywhere and with BN removed from one part; bars are means over seeds, lines ± one sd'),
    config: PLOT_CONFIG,
    data: { values },
    facet: { column: depthHeader('column') },
    spec: {
      width: { step: 34 },
      height: 220,
      encoding: { x: { field: 'label', type: 'nominal', title: null, sort: labels, axis: { labelAngle: -40, labelLimit: 200 } } },
      layer: [
        {
          mark: { type: 'bar', tooltip: true },
          encoding: {
            y: { field: 'mean', type: 'quantitative', title: 'Top eigenvalue' },
            color: { field: 'label', type: 'nominal', legend: null, scale: variantColours(study.runs, new Set(labels)) },
            tooltip: [
              { field: 'label', type: 'nominal', title: 'variant' },
              { field: 'mean', type: 'quantitative', title: 'top eigenvalue', format: NUMBER_FORMAT },
              { field: 'seeds', type: 'quantitative', title: 'seeds' },
            ],
          },
        },
        { mark: { type: 'rule', color: '#333' }, encoding: { y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' } } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as PlotSpec;
}
