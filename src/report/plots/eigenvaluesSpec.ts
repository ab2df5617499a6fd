import type { EigenResult } from '../results.js';
import { NUMBER_FORMAT, PLOT_CONFIG, PLOT_HEIGHT, VEGA_LITE_SCHEMA, finiteOrNull, titled, type PlotSpec } from './common.js';

/** The top eigenvalues by rank, one bar each. */
export function eigenvaluesSpec(eigen: Pick<EigenResult, 'values'> & Partial<EigenResult>): PlotSpec {
  const values = eigen.values.map((v, i) => ({
    rank: i + 1,
    eigenvalue: finiteOrNull(v),
    residual: finiteOrNull(eigen.residuals?.[i]),
  }));
  const tooltip = [
    { field: 'rank', type: 'ordinal', title: 'rank' },
    { field: 'eigenvalue', type: 'quantitative', title: 'eigenvalue', format: NUMBER_FORMAT },
    ...(eigen.residuals ? [{ field: 'residual', type: 'quantitative', title: '‖Hv − λv‖', format: '.3~e' } as const] : []),
  ] as const;
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: titled('Top Hessian eigenvalues', eigen.method ? `method: ${eigen.method}` : undefined),
    width: Math.max(280, 40 * values.length),
    height: PLOT_HEIGHT,
    config: PLOT_CONFIG,
    data: { values },
    mark: { type: 'bar', color: '#1f77b4', tooltip: true },
    encoding: {
      x: { field: 'rank', type: 'ordinal', title: 'Rank (largest first)', axis: { labelAngle: 0 } },
      y: { field: 'eigenvalue', type: 'quantitative', title: 'Eigenvalue' },
      tooltip: [...tooltip],
    },
  };
}
