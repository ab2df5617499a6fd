import { resolve } from 'node:path';
import type { Command } from 'commander';
import { landscapeRun } from '../../api/landscapeRun.js';
import { createResults, finiteExtent, writeReport } from '../../report/index.js';
import type { CommandContext } from '../context.js';
import { fmt } from '../format.js';
import { intOption, numberOption, oneOf } from '../options.js';
import { executorForFlags, openModelAndData } from './analyze.js';

export interface LandscapeFlags {
  model: string;
  data: string;
  split: string;
  arch?: string;
  directions: string;
  dims: number;
  steps: number;
  range: number;
  batch: number;
  fullDataset?: boolean;
  bnMode: string;
  includeBiasBn?: boolean;
  seed: number;
  out: string;
  png: boolean;
  workers?: number;
  cluster?: string;
  run: string;
}

export function registerLandscape(program: Command, run: (f: (ctx: CommandContext, flags: LandscapeFlags) => Promise<void>) => (...a: unknown[]) => Promise<void>): void {
  program
    .command('landscape')
    .description('the loss along one direction or over a plane of two (top eigenvectors or random filter-normalised)')
    .requiredOption('--model <file>', 'model weights (.safetensors)')
    .requiredOption('--data <source>', 'synthetic[:N], cifar10[:DIR], cifar100[:DIR] or FILE.safetensors')
    .option('--split <split>', 'train or test', 'test')
    .option('--arch <arch>', 'architecture when the file does not say')
    .option('--directions <kind>', 'eigen (top Hessian eigenvectors) or random (filter-normalised)', 'eigen')
    .option('--dims <d>', '1 (a curve) or 2 (a surface)', intOption('--dims', 1), 1)
    .option('--steps <n>', 'grid points per axis', intOption('--steps', 2), 21)
    .option('--range <r>', 'coordinates run from -r to r', numberOption('--range'), 0.5)
    .option('--batch <N>', 'evaluate on the first N samples', intOption('--batch', 1), 200)
    .option('--full-dataset', 'evaluate on the whole dataset')
    .option('--bn-mode <mode>', 'eval or train', 'eval')
    .option('--include-bias-bn', 'random directions also move biases and BN parameters')
    .option('--seed <n>', 'random seed', intOption('--seed', 0), 0)
    .option('--workers <n>', 'with --full-dataset: worker threads (default one per core; 1 runs in this thread)', intOption('--workers', 1))
    .option('--cluster <url>', 'with --full-dataset: evaluate on `hesse worker` processes through Redis')
    .option('--run <name>', 'the run name the cluster workers serve', 'hesse')
    .option('--out <dir>', 'output directory', 'hesse-report')
    .option('--no-png', 'skip PNG copies of the plots')
    .action(run(landscapeCommand));
}

export async function landscapeCommand(ctx: CommandContext, flags: LandscapeFlags): Promise<void> {
  const directions = oneOf('--directions', flags.directions, ['eigen', 'random'] as const);
  const bnMode = oneOf('--bn-mode', flags.bnMode, ['eval', 'train'] as const);
  const split = oneOf('--split', flags.split, ['train', 'test'] as const);
  const dims = oneOf('--dims', String(flags.dims), ['1', '2'] as const) === '1' ? 1 : 2;
  const { m, data, normalize } = await openModelAndData(ctx, flags, split);
  ctx.progress.say(`${dims}-D landscape of ${m.description} along ${directions} directions on ${data.description}`);
  const executor = await executorForFlags(ctx, flags, { model: m.model, dataset: data.dataset, normalize, kind: 'hessian', bnMode });
  const r = await landscapeRun({
    model: m.model,
    dataset: data.dataset,
    normalize,
    directions,
    dims,
    steps: flags.steps,
    range: flags.range,
    batch: flags.batch,
    ...(flags.fullDataset ? { fullDataset: true } : {}),
    bnMode,
    includeBiasBn: !!flags.includeBiasBn,
    seed: flags.seed,
    onProgress: ctx.onProgress,
    signal: ctx.signal,
    ...(executor ? { datasetEvaluator: (theta: Float32Array) => executor.losses(theta) } : {}),
  }).finally(() => executor?.close());
  ctx.progress.end();
  const results = createResults({
    command: 'landscape',
    kernels: ctx.kernels,
    argv: process.argv.slice(2),
    inputs: {
      model: { description: m.description, file: resolve(flags.model), parameters: m.model.size },
      data: { description: data.description, source: flags.data, classes: data.dataset.classes },
      samples: { landscape: r.result.samples ?? 0 },
    },
    options: { seed: flags.seed, bnMode, directions, dims, steps: flags.steps, range: flags.range, includeBiasBn: !!flags.includeBiasBn, ...(flags.fullDataset ? { fullDataset: true } : { batch: r.result.samples ?? 0 }) },
    timings: { directions: r.directionsMs, landscape: r.result.ms ?? 0 },
    products: { directions: r.products },
    results: { landscape: r.result },
  });
  if (ctx.signal.aborted) results.interrupted = true;
  const dir = resolve(flags.out);
  await writeReport(dir, results, { png: flags.png });
  const losses = finiteExtent((r.result.loss as number[] | number[][]).flat());
  ctx.print(`loss at the origin ${fmt(r.result.originLoss)}; over the grid ${losses ? `from ${fmt(losses.min)} to ${fmt(losses.max)}` : 'no finite loss'}`);
  if (results.interrupted) ctx.print('stopped early: the report holds what was finished');
  ctx.print(`report: ${dir}/index.html`);
  ctx.printJson({ out: dir, report: `${dir}/index.html`, interrupted: !!results.interrupted, landscape: r.result });
}
