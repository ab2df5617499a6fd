import type { PerLayerResult } from '../results.js';
import { NUMBER_FORMAT, PLOT_CONFIG, PLOT_WIDTH, VEGA_LITE_SCHEMA, finiteOrNull, titled, type PlotSpec } from './common.js';

export type PerLayerMetric = 'trace' | 'topEigenvalue';

const LABELS: Record<PerLayerMetric, { title: string; axis: string }> = {
  trace: { title: 'Hessian trace per layer', axis: 'Trace of the layer’s Hessian block' },
  topEigenvalue: { title: 'Top eigenvalue per layer', axis: 'Top eigenvalue of the layer’s Hessian block' },
};

/**
 * One horizontal bar per layer, in model order (top to bottom), so long parameter names stay
 * readable; traces carry ± one standard error when it was estimated.
 */
export function perLayerSpec(layers: readonly PerLayerResult[], metric: PerLayerMetric): PlotSpec {
  const rows = layers
    .filter((l) => l[metric] !== undefined)
    .map((l) => {
      const value = finiteOrNull(l[metric]);
      const se = metric === 'trace' ? finiteOrNull(l.traceStdErr) : null;
      return {
        layer: l.name,
        parameters: l.parameters,
        value,
        stdErr: se,
        low: value !== null && se !== null ? value - se : null,
        high: value !== null && se !== null ? value + se : null,
      };
    });
  const withErrors = rows.some((r) => r.stdErr !== null);
  const tooltip = [
    { field: 'layer', type: 'nominal', title: 'layer' },
    { field: 'value', type: 'quantitative', title: metric === 'trace' ? 'trace' : 'top eigenvalue', format: NUMBER_FORMAT },
    ...(withErrors ? [{ field: 'stdErr', type: 'quantitative', title: 'standard error', format: '.3~g' } as const] : []),
    { field: 'parameters', type: 'quantitative', title: 'parameters', format: ',d' },
  ] as const;
  const y = { field: 'layer', type: 'nominal', title: 'Layer (model order)', sort: null, axis: { labelLimit: 280 } } as const;
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: titled(LABELS[metric].title, `${rows.length} parameter blocks${withErrors ? ', bars show ± one standard error' : ''}`),
    width: PLOT_WIDTH - 160,
    height: { step: 16 },
    config: PLOT_CONFIG,
    data: { values: rows },
    layer: [
      {
        mark: { type: 'bar', color: metric === 'trace' ? '#4c78a8' : '#f58518', tooltip: true },
        encoding: { y, x: { field: 'value', type: 'quantitative', title: LABELS[metric].axis }, tooltip: [...tooltip] },
      },
      ...(withErrors
        ? [
            {
              mark: { type: 'rule', color: '#222', tooltip: true },
              encoding: { y, x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' }, tooltip: [...tooltip] },
            } as const,
          ]
        : []),
    ],
  } as PlotSpec;
}
