import type { StudyResult } from '../studyResults.js';
import { NUMBER_FORMAT, PLOT_CONFIG, PLOT_HEIGHT, PLOT_WIDTH, VEGA_LITE_SCHEMA, titled, type PlotSpec } from './common.js';
import { finalOf, variantColours } from './studyPoints.js';

/** Every finished run at the end of training: test accuracy against the top eigenvalue (log scale when all are positive). */
export function studySharpnessSpec(study: StudyResult): PlotSpec {
  const values = study.runs.flatMap((r) => {
    const c = finalOf(r);
    const top = c?.topEigenvalues[0];
    if (!c || top === undefined || !Number.isFinite(top) || c.testAccuracy === undefined || !Number.isFinite(c.testAccuracy)) return [];
    return [{ depth: r.depth, label: r.label, seed: r.seed, top, accuracy: c.testAccuracy }];
  });
  const log = values.length > 0 && values.every((v) => v.top > 0);
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: titled('Test accuracy against sharpness', 'each finished run at the end of training'),
    width: PLOT_WIDTH,
    height: PLOT_HEIGHT,
    config: PLOT_CONFIG,
    data: { values },
    mark: { type: 'point', filled: true, size: 70, tooltip: true },
    encoding: {
      x: { field: 'top', type: 'quantitative', title: `Top eigenvalue${log ? ' (log scale)' : ''}`, scale: log ? { type: 'log' } : { zero: false } },
      y: { field: 'accuracy', type: 'quantitative', title: 'Test accuracy', axis: { format: '.0%' }, scale: { zero: false } },
      color: { field: 'label', type: 'nominal', title: 'Variant', legend: { labelLimit: 240 }, scale: variantColours(study.runs) },
      shape: { field: 'depth', type: 'nominal', title: 'Depth', sort: 'ascending' },
      tooltip: [
        { field: 'label', type: 'nominal', title: 'variant' },
        { field: 'depth', type: 'nominal', title: 'depth' },
        { field: 'seed', type: 'quantitative', title: 'seed' },
        { field: 'top', type: 'quantitative', title: 'top eigenvalue', format: NUMBER_FORMAT },
        { field: 'accuracy', type: 'quantitative', title: 'test accuracy', format: '.2%' },
      ],
    },
  } as PlotSpec;
}
