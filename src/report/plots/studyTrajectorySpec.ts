import type { StudyResult } from '../studyResults.js';
import { NUMBER_FORMAT, PLOT_CONFIG, VEGA_LITE_SCHEMA, finiteOrNull, titled, type PlotSpec } from './common.js';
import { depthHeader, variantColours } from './studyPoints.js';

/** The top eigenvalue and the trace at every checkpoint, per variant (one line per seed), a row per depth. */
export function studyTrajectorySpec(study: StudyResult): PlotSpec {
  const values = study.runs.flatMap((r) =>
    r.checkpoints.flatMap((c) => [
      { depth: r.depth, label: r.label, seed: r.seed, epoch: c.epoch, metric: 'top eigenvalue', value: finiteOrNull(c.topEigenvalues[0]) },
      { depth: r.depth, label: r.label, seed: r.seed, epoch: c.epoch, metric: 'trace', value: finiteOrNull(c.trace) },
    ]),
  );
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: titled('Curvature through training', `at the checkpoints (epochs ${study.analysisEpochs.join(', ')}), one line per variant and seed`),
    config: PLOT_CONFIG,
    data: { values },
    facet: { row: depthHeader('row'), column: { field: 'metric', type: 'nominal', title: null, sort: ['top eigenvalue', 'trace'] } },
    spec: {
      width: 300,
      height: 170,
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'Epoch', axis: { tickMinStep: 1 } },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
        color: { field: 'label', type: 'nominal', title: 'Variant', legend: { labelLimit: 240 }, scale: variantColours(study.runs) },
        detail: { field: 'seed', type: 'nominal' },
      },
      layer: [
        { mark: { type: 'line', strokeWidth: 1.5 } },
        {
          mark: { type: 'point', filled: true, size: 36, tooltip: true },
          encoding: {
            tooltip: [
              { field: 'label', type: 'nominal', title: 'variant' },
              { field: 'seed', type: 'quantitative', title: 'seed' },
              { field: 'epoch', type: 'quantitative', title: 'epoch' },
              { field: 'metric', type: 'nominal', title: 'metric' },
              { field: 'value', type: 'quantitative', title: 'value', format: NUMBER_FORMAT },
            ],
          },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as PlotSpec;
}
