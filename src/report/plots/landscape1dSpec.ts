import type { LandscapeResult } from '../results.js';
import { NUMBER_FORMAT, PLOT_CONFIG, PLOT_HEIGHT, PLOT_WIDTH, VEGA_LITE_SCHEMA, finiteOrNull, titled, type PlotSpec } from './common.js';
import { peakPreservingIndices } from './esdSpec.js';

const directionWords = (d: string): string => (d === 'eigen' ? 'the top Hessian eigenvector' : 'a random filter-normalised direction');

export interface Landscape1dPlotOptions {
  /**
   * A longer curve is thinned to about this many points, keeping each stretch's lowest and
   * highest loss (a plot of 200,000 points takes seconds to draw and shows no more). Default 2000.
   */
  maxPoints?: number;
}

/** Which samples of a 1-D landscape its plot draws: all, or each stretch's lowest and highest loss. */
export function landscape1dPlotIndices(loss: readonly number[], maxPoints = 2000): number[] {
  if (loss.length <= maxPoints) return Array.from(loss, (_, i) => i);
  const half = Math.max(3, Math.floor(maxPoints / 2));
  const high = peakPreservingIndices(loss.map((v) => (Number.isFinite(v) ? v : -Infinity)), half);
  const low = peakPreservingIndices(loss.map((v) => (Number.isFinite(v) ? -v : -Infinity)), half);
  return [...new Set([...high, ...low])].sort((a, b) => a - b);
}

/** Loss (left axis) and, when measured, accuracy (right axis) along one direction. */
export function landscape1dSpec(
  landscape: Pick<LandscapeResult, 'alphas' | 'loss' | 'directions'> & Partial<LandscapeResult>,
  options: Landscape1dPlotOptions = {},
): PlotSpec {
  const loss = landscape.loss as number[];
  const accuracy = landscape.accuracy as number[] | undefined;
  const values = landscape1dPlotIndices(loss, options.maxPoints).map((i) => ({
    alpha: landscape.alphas[i]!,
    loss: finiteOrNull(loss[i]),
    ...(accuracy ? { accuracy: finiteOrNull(accuracy[i]) } : {}),
  }));
  const tooltip = [
    { field: 'alpha', type: 'quantitative', title: 'α', format: NUMBER_FORMAT },
    { field: 'loss', type: 'quantitative', title: 'loss', format: NUMBER_FORMAT },
    ...(accuracy ? [{ field: 'accuracy', type: 'quantitative', title: 'accuracy', format: NUMBER_FORMAT } as const] : []),
  ] as const;
  const x = { field: 'alpha', type: 'quantitative', title: 'Step α along the direction', scale: { zero: false, nice: false } } as const;
  const color = (name: string) => ({ datum: name, type: 'nominal', title: 'Metric', scale: { domain: ['loss', 'accuracy'], range: ['#1f77b4', '#d62728'] } }) as const;
  const curve = (field: 'loss' | 'accuracy', title: string, orient: 'left' | 'right') => ({
    encoding: {
      x,
      y: { field, type: 'quantitative', title, scale: { zero: false }, axis: { orient, titleColor: field === 'loss' ? '#1f77b4' : '#d62728' } },
      color: color(field),
    },
    layer: [
      { mark: { type: 'line', strokeWidth: 2 } },
      { mark: { type: 'point', filled: true, size: 40, tooltip: true }, encoding: { tooltip: [...tooltip] } },
    ],
  });
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: titled(
      'Loss landscape (1-D)',
      `along ${directionWords(landscape.directions)}${landscape.bnMode ? `, batch norm in ${landscape.bnMode} mode` : ''}`,
    ),
    width: PLOT_WIDTH,
    height: PLOT_HEIGHT,
    config: PLOT_CONFIG,
    data: { values },
    layer: [curve('loss', 'Loss', 'left'), ...(accuracy ? [curve('accuracy', 'Accuracy', 'right')] : [])],
    ...(accuracy ? { resolve: { scale: { y: 'independent' } } } : {}),
  } as PlotSpec;
}
