import { finiteExtent, type HesseResults } from '../report/index.js';
import type { CommandContext } from './context.js';
import { fmt, seconds } from './format.js';

function stoppedLine(ctx: CommandContext, results: HesseResults): void {
  if (results.failed) ctx.print(`stopped at the ${results.failed.stage} step: the report holds the steps before it`);
  else if (results.interrupted) ctx.print('stopped early: the report holds what was finished');
}

/** The model's size and the loss (and accuracy) at its weights, as a line and as --json fields. */
function modelLine(ctx: CommandContext, results: HesseResults): Record<string, unknown> {
  const ev = results.results.evaluation;
  const o = results.options;
  const parameters = results.inputs.model.parameters;
  const lossFunction = o.loss ?? 'cross-entropy';
  if (ev) {
    const ignoring = o.ignoreIndex !== undefined ? `, ignoring ${o.ignoreIndex}` : '';
    const accuracy = ev.accuracy !== undefined ? `, accuracy ${(100 * ev.accuracy).toFixed(1)}%` : '';
    const on = o.fullDataset ? 'the whole dataset' : 'the Hessian batch';
    ctx.print(`${parameters?.toLocaleString('en-US') ?? '?'} parameters; loss ${fmt(ev.loss)} (${lossFunction}${ignoring})${accuracy} on ${on} of ${ev.samples.toLocaleString('en-US')} samples`);
  }
  return {
    parameters,
    lossFunction,
    ...(o.ignoreIndex !== undefined ? { ignoreIndex: o.ignoreIndex } : {}),
    ...(ev ? { loss: ev.loss, ...(ev.accuracy !== undefined ? { accuracy: ev.accuracy } : {}), samples: ev.samples } : {}),
  };
}

/** The analysis sections as lines, and with --json the machine-readable summary. */
export function printAnalysis(ctx: CommandContext, results: HesseResults, dir: string): void {
  const r = results.results;
  const model = modelLine(ctx, results);
  if (r.eigen) ctx.print(`top eigenvalues (${r.eigen.method}): ${r.eigen.values.map((v) => fmt(v)).join(', ')}   [${r.eigen.products} products, ${seconds(r.eigen.ms)}]`);
  if (r.eigen?.reuses) ctx.print(`  reused: ${r.eigen.reuses}`);
  if (r.trace) {
    const stop = r.trace.stoppedBy === 'target-rse' ? ', target reached' : r.trace.stoppedBy === 'tol' ? ', tolerance reached' : '';
    const rse = r.trace.relativeStandardError !== undefined ? ` (relative standard error ${fmt(r.trace.relativeStandardError)}${stop})` : '';
    ctx.print(`trace (${r.trace.method}): ${fmt(r.trace.estimate)} ± ${fmt(r.trace.standardError)}${rse}   [${r.trace.products} products, ${seconds(r.trace.ms)}]`);
    if (r.trace.reuses) ctx.print(`  reused: ${r.trace.reuses}`);
  }
  if (r.density) {
    const e = finiteExtent(r.density.nodes.flat());
    ctx.print(`spectral density: ${r.density.steps} Lanczos steps × ${r.density.probes} probe(s), Ritz values in [${fmt(e?.min ?? NaN)}, ${fmt(e?.max ?? NaN)}]   [${r.density.products} products, ${seconds(r.density.ms)}]`);
  }
  if (r.perLayer) {
    ctx.print('per-layer traces:');
    for (const l of r.perLayer) ctx.print(`  ${l.name.padEnd(28)} ${fmt(l.trace).padStart(11)} ± ${fmt(l.traceStdErr)}${l.topEigenvalue !== undefined ? `   top eigenvalue ${fmt(l.topEigenvalue)}` : ''}`);
  }
  stoppedLine(ctx, results);
  ctx.print(`report: ${dir}/index.html`);
  ctx.printJson({
    out: dir,
    report: `${dir}/index.html`,
    interrupted: !!results.interrupted,
    ...(results.failed ? { failed: results.failed } : {}),
    ...model,
    eigenvalues: r.eigen?.values,
    trace: r.trace
      ? {
          estimate: r.trace.estimate,
          standardError: r.trace.standardError,
          ...(r.trace.relativeStandardError !== undefined ? { relativeStandardError: r.trace.relativeStandardError } : {}),
          ...(r.trace.stoppedBy !== undefined ? { stoppedBy: r.trace.stoppedBy } : {}),
        }
      : undefined,
    density: r.density ? { steps: r.density.steps, probes: r.density.probes, nodes: r.density.nodes, weights: r.density.weights } : undefined,
    perLayer: r.perLayer,
    diagonal: r.diagonal?.perBlock,
    products: results.products,
    timings: results.timings,
  });
}

/** The landscape's range of losses, and with --json the surface. */
export function printLandscape(ctx: CommandContext, results: HesseResults, dir: string): void {
  const l = results.results.landscape!;
  const model = modelLine(ctx, results);
  const e = finiteExtent((l.loss as number[] | number[][]).flat());
  ctx.print(`loss at the origin ${fmt(l.originLoss)}; over the grid ${e ? `from ${fmt(e.min)} to ${fmt(e.max)}` : 'no finite loss'}`);
  stoppedLine(ctx, results);
  ctx.print(`report: ${dir}/index.html`);
  ctx.printJson({ out: dir, report: `${dir}/index.html`, interrupted: !!results.interrupted, ...model, landscape: l });
}
