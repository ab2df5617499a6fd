import type { LandscapeResult } from '../results.js';
import { NUMBER_FORMAT, PLOT_CONFIG, VEGA_LITE_SCHEMA, finiteOrNull, titled, type PlotSpec } from './common.js';
import { contourLevels, contourLines } from './contours.js';

export interface Landscape2dPlotOptions {
  /** Iso-lines drawn over the heatmap. Default 10. */
  levels?: number;
  /** Colour (and space the levels) on a log scale. Default: when the loss is positive and spans more than 100x. */
  logScale?: boolean;
}

/** Cell boundaries halfway between neighbouring samples, so each sample sits in its cell's centre. */
function cellEdges(centres: readonly number[]): number[] {
  const n = centres.length;
  if (n === 1) return [centres[0]! - 0.5, centres[0]! + 0.5];
  const edges = [centres[0]! - (centres[1]! - centres[0]!) / 2];
  for (let k = 1; k < n; k++) edges.push((centres[k - 1]! + centres[k]!) / 2);
  edges.push(centres[n - 1]! + (centres[n - 1]! - centres[n - 2]!) / 2);
  return edges;
}

/** The loss over a plane of two directions: a heatmap with iso-loss lines drawn over it. */
export function landscape2dSpec(
  landscape: Pick<LandscapeResult, 'alphas' | 'loss' | 'directions'> & Partial<LandscapeResult>,
  options: Landscape2dPlotOptions = {},
): PlotSpec {
  const alphas = landscape.alphas;
  const betas = landscape.betas ?? [];
  const loss = landscape.loss as number[][];
  const accuracy = landscape.accuracy as number[][] | undefined;
  const xe = cellEdges(alphas);
  const ye = cellEdges(betas);

  let min = Infinity;
  let max = -Infinity;
  const cells = [];
  for (let i = 0; i < alphas.length; i++) {
    for (let j = 0; j < betas.length; j++) {
      const l = loss[i]![j]!;
      if (Number.isFinite(l)) {
        min = Math.min(min, l);
        max = Math.max(max, l);
      }
      cells.push({
        alpha: alphas[i]!,
        beta: betas[j]!,
        x0: xe[i]!,
        x1: xe[i + 1]!,
        y0: ye[j]!,
        y1: ye[j + 1]!,
        loss: finiteOrNull(l),
        ...(accuracy ? { accuracy: finiteOrNull(accuracy[i]![j]) } : {}),
      });
    }
  }
  const log = options.logScale ?? (min > 0 && max / min > 100);
  const lines = contourLevels(min, max, options.levels ?? 10, log).flatMap((level) => contourLines(alphas, betas, loss, level));
  const contourRows = lines.flatMap((line, id) => line.points.map((p, order) => ({ line: id, order, alpha: p.x, beta: p.y, level: line.level })));

  const xDomain = [Math.min(xe[0]!, xe[xe.length - 1]!), Math.max(xe[0]!, xe[xe.length - 1]!)];
  const yDomain = [Math.min(ye[0]!, ye[ye.length - 1]!), Math.max(ye[0]!, ye[ye.length - 1]!)];
  const x = { type: 'quantitative', title: 'Step α along direction 1', scale: { domain: xDomain, nice: false, zero: false } } as const;
  const y = { type: 'quantitative', title: 'Step β along direction 2', scale: { domain: yDomain, nice: false, zero: false } } as const;
  const cellTooltip = [
    { field: 'alpha', type: 'quantitative', title: 'α', format: NUMBER_FORMAT },
    { field: 'beta', type: 'quantitative', title: 'β', format: NUMBER_FORMAT },
    { field: 'loss', type: 'quantitative', title: 'loss', format: NUMBER_FORMAT },
    ...(accuracy ? [{ field: 'accuracy', type: 'quantitative', title: 'accuracy', format: NUMBER_FORMAT } as const] : []),
  ] as const;
  const originInside = xDomain[0]! <= 0 && 0 <= xDomain[1]! && yDomain[0]! <= 0 && 0 <= yDomain[1]!;
  const directions = landscape.directions === 'eigen' ? 'the top two Hessian eigenvectors' : 'two random filter-normalised directions';

  return {
    $schema: VEGA_LITE_SCHEMA,
    title: titled('Loss landscape (2-D)', `over ${directions}; lines join equal loss${log ? ' (log-spaced)' : ''}`),
    width: 420,
    height: 420,
    config: PLOT_CONFIG,
    layer: [
      {
        data: { values: cells },
        mark: { type: 'rect', tooltip: true },
        encoding: {
          x: { field: 'x0', ...x },
          x2: { field: 'x1' },
          y: { field: 'y0', ...y },
          y2: { field: 'y1' },
          color: { field: 'loss', type: 'quantitative', title: 'Loss', scale: { scheme: 'viridis', type: log ? 'log' : 'linear' } },
          tooltip: [...cellTooltip],
        },
      },
      ...(contourRows.length > 0
        ? [
            {
              data: { values: contourRows },
              mark: { type: 'line', color: 'white', strokeWidth: 1.2, opacity: 0.85, tooltip: true, clip: true },
              encoding: {
                x: { field: 'alpha', ...x },
                y: { field: 'beta', ...y },
                detail: { field: 'line', type: 'nominal' },
                order: { field: 'order', type: 'quantitative' },
                tooltip: [{ field: 'level', type: 'quantitative', title: 'iso-loss level', format: NUMBER_FORMAT }],
              },
            },
          ]
        : []),
      ...(originInside
        ? [
            {
              data: { values: [{ alpha: 0, beta: 0, what: 'trained weights' }] },
              mark: { type: 'point', shape: 'cross', color: '#ff4136', size: 120, filled: true, tooltip: true },
              encoding: {
                x: { field: 'alpha', ...x },
                y: { field: 'beta', ...y },
                tooltip: [{ field: 'what', type: 'nominal', title: 'point' }],
              },
            },
          ]
        : []),
    ],
  } as PlotSpec;
}
