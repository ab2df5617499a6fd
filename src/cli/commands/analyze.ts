import type { Command } from 'commander';
import { analyze } from '../../api/analyze.js';
import { EIGEN_METHODS, STAGE_DEFAULTS, TRACE_METHODS, type EigenMethod, type TraceMethod } from '../../api/analysisStages.js';
import { writeReport } from '../../report/index.js';
import type { CommandContext } from '../context.js';
import { intOption, numberOption } from '../options.js';
import { printAnalysis } from '../printResults.js';
import { addCurvatureCommandFlags, startCurvatureCommand, type CurvatureCommandFlags } from '../sharedFlags.js';

export interface AnalyzeFlags extends CurvatureCommandFlags {
  eigen?: number;
  method?: EigenMethod;
  trace?: boolean;
  traceMethod?: TraceMethod;
  traceProducts?: number;
  traceTol?: number;
  traceRse?: number;
  density?: boolean;
  densitySteps?: number;
  densityProbes?: number;
  diag?: boolean;
  perLayer?: boolean;
  perLayerEigen?: boolean;
  probes?: number;
  share?: boolean;
}

export function registerAnalyze(program: Command, run: (f: (ctx: CommandContext, flags: AnalyzeFlags) => Promise<void>) => (...a: unknown[]) => Promise<void>): void {
  const cmd = program.command('analyze').description('top eigenvalues, trace, spectral density, diagonal and per-layer curvature of a model on data');
  addCurvatureCommandFlags(cmd, 'the Hessian', true)
    .option('--eigen <K>', 'the K largest eigenvalues', intOption('--eigen', 0))
    .option('--method <method>', `eigenvalue method: ${EIGEN_METHODS.join(' or ')} (default lanczos; power is PyHessian's)`)
    .option('--trace', 'the trace')
    .option('--trace-method <method>', `trace estimator: ${TRACE_METHODS.join(', ')} (default hutchinson)`)
    .option('--trace-products <n>', `products for the trace (Hutchinson's probes, at most with a stopping rule; the Hutch++ and XTrace budgets); default ${STAGE_DEFAULTS.traceProducts.hutchinson}`, intOption('--trace-products', 1))
    .option('--trace-tol <t>', "Hutchinson: PyHessian's stopping rule, the relative change of the running mean", numberOption('--trace-tol'))
    .option('--trace-rse <r>', 'Hutchinson: stop once the relative standard error of the trace is down to r (e.g. 0.01); --trace-products caps it', numberOption('--trace-rse'))
    .option('--density', 'the eigenvalue spectral density (stochastic Lanczos quadrature)')
    .option('--density-steps <m>', `Lanczos steps for the density (default ${STAGE_DEFAULTS.densitySteps})`, intOption('--density-steps', 1))
    .option('--density-probes <n>', `probe vectors for the density (default ${STAGE_DEFAULTS.densityProbes})`, intOption('--density-probes', 1))
    .option('--diag', 'the Hessian diagonal, summed per parameter tensor')
    .option('--per-layer', 'per-layer traces')
    .option('--per-layer-eigen', 'per-layer top eigenvalues too (one Lanczos run per layer)')
    .option('--probes <n>', `probes for the diagonal and per-layer traces (default ${STAGE_DEFAULTS.probes})`, intOption('--probes', 1))
    .option('--no-share', "give every stage its own products (by default the density's Lanczos run serves the top eigenvalue and deflates the trace)")
    .action(run(analyzeCommand));
}

export async function analyzeCommand(ctx: CommandContext, flags: AnalyzeFlags): Promise<void> {
  const { dir, common } = await startCurvatureCommand(ctx, flags, 'analysing');
  const out = await analyze({
    ...common,
    eigen: !!flags.eigen && { k: flags.eigen, method: flags.method },
    trace: !!flags.trace && { method: flags.traceMethod, products: flags.traceProducts, tol: flags.traceTol, targetRse: flags.traceRse },
    density: !!flags.density && { steps: flags.densitySteps, probes: flags.densityProbes },
    diagonal: !!flags.diag && { probes: flags.probes },
    perLayer: (!!flags.perLayer || !!flags.perLayerEigen) && { probes: flags.probes, eigen: !!flags.perLayerEigen },
    share: flags.share !== false,
  });
  ctx.progress.end();
  await writeReport(dir, out.results, { png: flags.png });
  printAnalysis(ctx, out.results, dir);
  if (out.failure) throw out.failure;
}
