import { OptionError, type HesseError } from '../errors.js';
import type { Progress } from '../linalg/index.js';
import { ClusterError } from '../parallel/index.js';
import type { HesseResults, ResultsSections } from '../report/results.js';
import { prepareStages, type StageContext, type StageRequests } from './analysisStages.js';
import { seedOf } from './check.js';
import { commandResults, type RunRecordOptions } from './commandResults.js';
import { evaluationAtWeights, openCurvature, resolveCurvatureData, type CurvatureDataOptions } from './curvatureData.js';

export type { EigenMethod, TraceMethod } from './analysisStages.js';

export interface AnalyzeOptions extends CurvatureDataOptions, StageRequests, RunRecordOptions {
  seed?: number;
  /**
   * Let stages reuse each other's work on the same batch (default true): the density's Lanczos
   * run gives the eigen stage its top Ritz pairs (confirmed by one product each) and deflates the
   * Hutchinson trace by its basis. Each section's `reuses` says what it took; false gives every
   * stage its own products.
   */
  share?: boolean;
  onProgress?: (stage: string, p: Progress) => void;
  signal?: AbortSignal;
}

export interface AnalyzeOutput {
  /** the results object (what `writeReport` writes): inputs, options, every section computed, products and timings per stage */
  results: HesseResults;
  /** the top eigenvectors, for landscapes along them */
  eigenvectors: Float32Array[];
  /** set when a stage failed for good (its cluster lost): `results` holds the stages before it */
  failure?: HesseError;
}

/** What analyze computes when nothing is asked for. */
const DEFAULT_REQUESTS: StageRequests = { eigen: true, trace: true, density: true };

/**
 * PyHessian's three verbs and more on one curvature operator: the stages of ANALYSIS_STAGES that
 * the options ask for (top eigenvalues, trace, spectral density, diagonal, per-layer), in order.
 * Every option is checked before the first product. Each stage records its products and time; a
 * stop (signal) keeps what finished, and so does a cluster lost for good (see `failure`).
 */
export async function analyze(opts: AnalyzeOptions): Promise<AnalyzeOutput> {
  const seed = seedOf(opts.seed);
  const data = resolveCurvatureData(opts);
  if (opts.share !== undefined && typeof opts.share !== 'boolean') throw new OptionError(`the 'share' option must be true or false, got ${JSON.stringify(opts.share)}`);
  const share = opts.share ?? true;
  let { stages, keepKrylov } = prepareStages(opts, share);
  if (stages.length === 0) {
    opts.onNote?.('nothing chosen: computing the top eigenvalue, the trace and the density');
    ({ stages, keepKrylov } = prepareStages(DEFAULT_REQUESTS, share));
  }
  const sections: ResultsSections = {};
  const timings: Record<string, number> = {};
  const products: Record<string, number> = {};
  const shared: StageContext['shared'] = { eigenvectors: [], keepKrylov };
  let interrupted = false;
  let failure: HesseError | undefined;
  let failed: { stage: string; message: string } | undefined;

  const operator = await openCurvature(opts, data);
  try {
    sections.evaluation = await evaluationAtWeights(operator.executor, opts.dataset);
    timings.evaluation = sections.evaluation.ms!;
    for (const stage of stages) {
      if (interrupted || opts.signal?.aborted) {
        interrupted = true;
        break;
      }
      const start = { products: operator.stats.products, t: performance.now() };
      const ctx: StageContext = {
        operator,
        model: opts.model,
        shared,
        signal: opts.signal,
        algorithm: (label) => ({ seed, onProgress: (p) => opts.onProgress?.(label, p), ...(opts.signal ? { signal: opts.signal } : {}) }),
        spent: () => ({ products: operator.stats.products - start.products, ms: performance.now() - start.t }),
      };
      try {
        const r = await stage.run(ctx);
        (sections as Record<string, unknown>)[stage.name] = r.section;
        ({ ms: timings[stage.name], products: products[stage.name] } = ctx.spent());
        if (r.aborted) interrupted = true;
      } catch (e) {
        // a stop before the stage's first product: the stages before it are kept
        if (opts.signal?.aborted) interrupted = true;
        else if (e instanceof ClusterError) {
          failure = e;
          failed = { stage: stage.name, message: e.message };
        } else throw e;
        break;
      }
    }
  } finally {
    await operator.close();
  }

  const results = commandResults('analyze', opts, {
    samples: { hessian: data.samples },
    options: { seed, ...data.record, ...Object.assign({}, ...stages.map((s) => s.record)), share },
    timings,
    products,
    sections,
    interrupted: interrupted || opts.signal?.aborted === true,
    ...(failed ? { failed } : {}),
  });
  return { results, eigenvectors: shared.eigenvectors, ...(failure ? { failure } : {}) };
}
