import { resolve } from 'node:path';
import type { Command } from 'commander';
import { analyze, type EigenMethod, type TraceMethod } from '../../api/analyze.js';
import { datasetExecutor } from '../../api/executorArg.js';
import { OptionError } from '../../errors.js';
import { checkClassCount } from '../../nn/index.js';
import { executorOperator, type ClusterProgress, type ShardExecutor } from '../../parallel/index.js';
import { defaultNormalization, openDataArg } from '../../api/dataArg.js';
import { loadModelArg } from '../../api/modelArg.js';
import { createResults, finiteExtent, writeReport, type HesseResults } from '../../report/index.js';
import type { CommandContext } from '../context.js';
import { fmt, seconds } from '../format.js';
import { intOption, numberOption, oneOf } from '../options.js';

export interface AnalyzeFlags {
  model: string;
  data: string;
  split: 'train' | 'test';
  arch?: string;
  eigen?: number;
  trace?: boolean;
  density?: boolean;
  diag?: boolean;
  perLayer?: boolean;
  perLayerEigen?: boolean;
  method: string;
  traceMethod: string;
  traceProducts?: number;
  traceTol?: number;
  densitySteps: number;
  densityProbes: number;
  probes: number;
  batch: number;
  fullDataset?: boolean;
  bnMode: string;
  curvature: string;
  seed: number;
  out: string;
  png: boolean;
  workers?: number;
  cluster?: string;
  run?: string;
}

export function registerAnalyze(program: Command, run: (f: (ctx: CommandContext, flags: AnalyzeFlags) => Promise<void>) => (...a: unknown[]) => Promise<void>): void {
  program
    .command('analyze')
    .description('top eigenvalues, trace, spectral density, diagonal and per-layer curvature of a model on data')
    .requiredOption('--model <file>', 'model weights (.safetensors; PyTorch state-dict names)')
    .requiredOption('--data <source>', 'synthetic[:N], cifar10[:DIR], cifar100[:DIR] or FILE.safetensors (x, y)')
    .option('--split <split>', 'which split of the data: train or test', 'test')
    .option('--arch <arch>', 'architecture when the file does not say (e.g. resnet20, resnet32-nobn, mlp:784-100-10:tanh)')
    .option('--eigen <K>', 'the K largest eigenvalues', intOption('--eigen', 0))
    .option('--trace', 'the trace')
    .option('--density', 'the eigenvalue spectral density (stochastic Lanczos quadrature)')
    .option('--diag', 'the Hessian diagonal, summed per parameter tensor')
    .option('--per-layer', 'per-layer traces')
    .option('--per-layer-eigen', 'per-layer top eigenvalues too (one Lanczos run per layer)')
    .option('--method <method>', 'eigenvalue method: power (PyHessian) or lanczos', 'lanczos')
    .option('--trace-method <method>', 'trace estimator: hutchinson or hutch++', 'hutchinson')
    .option('--trace-products <n>', 'products for the trace (probes; Hutch++ budget)', intOption('--trace-products', 1))
    .option('--trace-tol <t>', "PyHessian's stopping rule: relative change of the running mean", numberOption('--trace-tol'))
    .option('--density-steps <m>', 'Lanczos steps for the density', intOption('--density-steps', 1), 100)
    .option('--density-probes <n>', 'probe vectors for the density', intOption('--density-probes', 1), 1)
    .option('--probes <n>', 'probes for the diagonal and per-layer traces', intOption('--probes', 1), 50)
    .option('--batch <N>', 'the Hessian batch: the first N samples', intOption('--batch', 1), 200)
    .option('--full-dataset', 'the Hessian of the mean loss over the whole dataset')
    .option('--bn-mode <mode>', 'batch norm statistics: eval (running, as PyHessian) or train (batch)', 'eval')
    .option('--curvature <kind>', 'hessian or ggn (generalised Gauss-Newton)', 'hessian')
    .option('--seed <n>', 'random seed', intOption('--seed', 0), 0)
    .option('--workers <n>', 'with --full-dataset: worker threads (default one per core; 1 runs in this thread)', intOption('--workers', 1))
    .option('--cluster <url>', 'with --full-dataset: send the products to `hesse worker` processes through Redis (redis://host:port)')
    .option('--run <name>', 'the run name the cluster workers serve', 'hesse')
    .option('--out <dir>', 'where results.json and the report go', 'hesse-report')
    .option('--no-png', 'skip PNG copies of the plots')
    .action(run(analyzeCommand));
}

export async function analyzeCommand(ctx: CommandContext, flags: AnalyzeFlags): Promise<void> {
  const bnMode = oneOf('--bn-mode', flags.bnMode, ['eval', 'train'] as const);
  const curvature = oneOf('--curvature', flags.curvature, ['hessian', 'ggn'] as const);
  const method = oneOf('--method', flags.method, ['power', 'lanczos'] as const) as EigenMethod;
  const traceMethod = oneOf('--trace-method', flags.traceMethod, ['hutchinson', 'hutch++'] as const) as TraceMethod;
  const split = oneOf('--split', flags.split, ['train', 'test'] as const);
  const wanted = (flags.eigen ?? 0) > 0 || flags.trace || flags.density || flags.diag || flags.perLayer;
  const eigen = wanted ? flags.eigen ?? 0 : 1;
  const trace = wanted ? !!flags.trace : true;
  const density = wanted ? !!flags.density : true;

  const { m, data, normalize } = await openModelAndData(ctx, flags, split);
  if (!wanted) ctx.progress.say('nothing chosen: computing the top eigenvalue, the trace and the density (see --help)');
  ctx.progress.say(`analysing ${m.description} on ${data.description}`);
  const executor = await executorForFlags(ctx, flags, { model: m.model, dataset: data.dataset, normalize, kind: curvature, bnMode });
  const out = await analyze({
    model: m.model,
    dataset: data.dataset,
    normalize,
    batch: flags.batch,
    ...(flags.fullDataset ? { fullDataset: true } : {}),
    eigen,
    method,
    trace,
    traceMethod,
    ...(flags.traceProducts !== undefined ? { traceProducts: flags.traceProducts } : {}),
    ...(flags.traceTol !== undefined ? { traceTol: flags.traceTol } : {}),
    density,
    densitySteps: flags.densitySteps,
    densityProbes: flags.densityProbes,
    diag: !!flags.diag,
    perLayer: !!flags.perLayer || !!flags.perLayerEigen,
    perLayerEigen: !!flags.perLayerEigen,
    probes: flags.probes,
    bnMode,
    curvature,
    seed: flags.seed,
    onProgress: ctx.onProgress,
    signal: ctx.signal,
    ...(executor ? { operator: executorOperator(executor) } : {}),
  }).finally(() => executor?.close());
  ctx.progress.end();

  const results: HesseResults = createResults({
    command: 'analyze',
    kernels: ctx.kernels,
    argv: process.argv.slice(2),
    inputs: {
      model: { description: m.description, file: resolve(flags.model), parameters: m.model.size, inferred: m.notes.some((n) => n.startsWith('inferred')) },
      data: { description: data.description, source: flags.data, classes: data.dataset.classes },
      samples: { hessian: out.samples },
    },
    options: {
      seed: flags.seed,
      bnMode,
      curvature,
      eigenMethod: method,
      traceMethod,
      ...(flags.fullDataset ? { fullDataset: true, workers: flags.cluster ? 'cluster' : flags.workers ?? 'one per core' } : { batch: out.samples }),
      eigen,
      trace,
      density,
      densitySteps: flags.densitySteps,
      densityProbes: flags.densityProbes,
      diag: !!flags.diag,
      perLayer: !!flags.perLayer,
      normalization: normalize ? { mean: [...normalize.mean], std: [...normalize.std] } : null,
    },
    timings: out.timings,
    products: out.products,
    results: out.results,
  });
  if (out.interrupted) results.interrupted = true;
  const dir = resolve(flags.out);
  await writeReport(dir, results, { png: flags.png });
  printAnalysis(ctx, results, dir);
}

/**
 * The model (saying how its architecture was found) and the data, with the normalisation the
 * model was trained with, or the data's default when the file does not say.
 */
export async function openModelAndData(ctx: CommandContext, flags: { model: string; arch?: string; data: string; seed: number }, split: 'train' | 'test') {
  const m = await loadModelArg(flags.model, flags.arch);
  for (const note of m.notes) ctx.progress.say(note);
  const data = await openDataArg(flags.data, split, flags.seed);
  checkClassCount(m.model, data.dataset);
  const normalize = m.normalization !== undefined ? m.normalization : defaultNormalization(data.spec);
  return { m, data, normalize };
}

/**
 * The worker threads or cluster that --full-dataset runs on (none for one Hessian batch, which
 * runs in this process; --workers or --cluster without --full-dataset is a mistake).
 */
export async function executorForFlags(
  ctx: CommandContext,
  flags: { fullDataset?: boolean; workers?: number; cluster?: string; run?: string },
  problem: Omit<Parameters<typeof datasetExecutor>[0], 'workers' | 'cluster' | 'runName' | 'onClusterProgress'>,
): Promise<ShardExecutor | undefined> {
  if ((flags.cluster || flags.workers !== undefined) && !flags.fullDataset) {
    throw new OptionError('--workers and --cluster spread the work over a whole dataset: add --full-dataset (one batch runs in this process)');
  }
  if (!flags.fullDataset) return undefined;
  return datasetExecutor({
    ...problem,
    ...(flags.workers !== undefined ? { workers: flags.workers } : {}),
    ...(flags.cluster ? { cluster: flags.cluster, runName: flags.run ?? 'hesse', onClusterProgress: clusterNarrator(ctx) } : {}),
  });
}

/** Says when the cluster's state changes: workers seen, retries (products show on the progress bar). */
export function clusterNarrator(ctx: CommandContext): (p: ClusterProgress) => void {
  let last = '';
  return (p) => {
    const line = `cluster: ${p.workersAlive} worker(s) alive, ${p.workersSeen} seen, ${p.retries} retried job(s), ${p.products} products`;
    const key = `${p.workersAlive}/${p.workersSeen}/${p.retries}`;
    if (key !== last) ctx.progress.say(line);
    last = key;
  };
}

export function printAnalysis(ctx: CommandContext, results: HesseResults, dir: string): void {
  const r = results.results;
  if (r.eigen) ctx.print(`top eigenvalues (${r.eigen.method}): ${r.eigen.values.map((v) => fmt(v)).join(', ')}   [${r.eigen.products} products, ${seconds(r.eigen.ms)}]`);
  if (r.trace) ctx.print(`trace (${r.trace.method}): ${fmt(r.trace.estimate)} ± ${fmt(r.trace.standardError)}   [${r.trace.products} products, ${seconds(r.trace.ms)}]`);
  if (r.density) {
    const ritz = finiteExtent(r.density.nodes.flat());
    ctx.print(`spectral density: ${r.density.steps} Lanczos steps × ${r.density.probes} probe(s), Ritz values in [${fmt(ritz?.min ?? NaN)}, ${fmt(ritz?.max ?? NaN)}]   [${r.density.products} products, ${seconds(r.density.ms)}]`);
  }
  if (r.perLayer) {
    ctx.print('per-layer traces:');
    for (const l of r.perLayer) ctx.print(`  ${l.name.padEnd(28)} ${fmt(l.trace).padStart(11)} ± ${fmt(l.traceStdErr)}${l.topEigenvalue !== undefined ? `   top eigenvalue ${fmt(l.topEigenvalue)}` : ''}`);
  }
  if (results.interrupted) ctx.print('stopped early: the report holds what was finished');
  ctx.print(`report: ${dir}/index.html`);
  ctx.printJson({
    out: dir,
    report: `${dir}/index.html`,
    interrupted: !!results.interrupted,
    eigenvalues: r.eigen?.values,
    trace: r.trace ? { estimate: r.trace.estimate, standardError: r.trace.standardError } : undefined,
    density: r.density ? { steps: r.density.steps, probes: r.density.probes, nodes: r.density.nodes, weights: r.density.weights } : undefined,
    perLayer: r.perLayer,
    diagonal: r.diagonal?.perBlock,
    products: results.products,
    timings: results.timings,
  });
}
