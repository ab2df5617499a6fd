import type { TrainingResult } from '../results.js';
import { NUMBER_FORMAT, PLOT_CONFIG, VEGA_LITE_SCHEMA, finiteOrNull, titled, type PlotSpec } from './common.js';

/** Loss and accuracy against epoch, train and test side by side. */
export function trainingSpec(training: TrainingResult): PlotSpec {
  const rows: { epoch: number; split: string; metric: string; value: number | null; lr: number | null }[] = [];
  for (const e of training.epochs) {
    const lr = finiteOrNull(e.lr);
    rows.push({ epoch: e.epoch, split: 'train', metric: 'loss', value: finiteOrNull(e.trainLoss), lr });
    rows.push({ epoch: e.epoch, split: 'train', metric: 'accuracy', value: finiteOrNull(e.trainAcc), lr });
    if (e.testLoss !== undefined) rows.push({ epoch: e.epoch, split: 'test', metric: 'loss', value: finiteOrNull(e.testLoss), lr });
    if (e.testAcc !== undefined) rows.push({ epoch: e.epoch, split: 'test', metric: 'accuracy', value: finiteOrNull(e.testAcc), lr });
  }
  const panel = (metric: 'loss' | 'accuracy', title: string) => ({
    title,
    width: 300,
    height: 260,
    transform: [{ filter: { field: 'metric', equal: metric } }],
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'Epoch', axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title, scale: { zero: false } },
      color: { field: 'split', type: 'nominal', title: 'Split', scale: { domain: ['train', 'test'], range: ['#1f77b4', '#ff7f0e'] } },
    },
    layer: [
      { mark: { type: 'line', strokeWidth: 2 } },
      {
        mark: { type: 'point', filled: true, size: 45, tooltip: true },
        encoding: {
          tooltip: [
            { field: 'epoch', type: 'quantitative', title: 'epoch' },
            { field: 'split', type: 'nominal', title: 'split' },
            { field: 'value', type: 'quantitative', title: metric, format: NUMBER_FORMAT },
            { field: 'lr', type: 'quantitative', title: 'learning rate', format: '.3~g' },
          ],
        },
      },
    ],
  });
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: titled('Training curves', `${training.epochs.length} epoch${training.epochs.length === 1 ? '' : 's'}`),
    config: PLOT_CONFIG,
    data: { values: rows },
    hconcat: [panel('loss', 'Loss'), panel('accuracy', 'Accuracy')],
  } as PlotSpec;
}
