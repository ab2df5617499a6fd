import { HesseError, OptionError } from '../errors.js';
import { filterNormalizedDirection, landscape1d, landscape2d, originEvaluation, type Evaluator } from '../landscape/index.js';
import { lanczosEigs, type Progress } from '../linalg/index.js';
import type { EvaluationResult, HesseResults, LandscapeResult } from '../report/results.js';
import { choice, count, positive, seedOf } from './check.js';
import { commandResults, type RunRecordOptions } from './commandResults.js';
import { evaluationSection, openCurvature, resolveCurvatureData, type CurvatureDataOptions } from './curvatureData.js';

export const LANDSCAPE_DIRECTIONS = ['eigen', 'random'] as const;
export const LANDSCAPE_DEFAULTS = Object.freeze({ directions: 'eigen' as const, dims: 1 as const, steps: 21, range: 0.5 });

export interface LandscapeRunOptions extends CurvatureDataOptions, RunRecordOptions {
  /** 'eigen': the top Hessian eigenvectors of the Hessian batch (unit vectors, as PyHessian's tutorial); 'random': filter-normalised (Li et al.) */
  directions?: (typeof LANDSCAPE_DIRECTIONS)[number];
  /** 1 (a curve) or 2 (a surface); default 1 */
  dims?: 1 | 2;
  /** grid points per axis (default 21) */
  steps?: number;
  /** coordinates run from -range to range (default 0.5) */
  range?: number;
  /** random directions also move biases and BN parameters */
  includeBiasBn?: boolean;
  seed?: number;
  /** top eigenvectors already computed (eigen directions), so they are not computed again */
  eigenvectors?: Float32Array[];
  onProgress?: (stage: string, p: Progress) => void;
  signal?: AbortSignal;
}

export interface LandscapeOutput {
  results: HesseResults;
  landscape: LandscapeResult;
}

const STOPPED = 'stopped before the eigenvector directions were found: there is no landscape to write';

/**
 * A loss surface along the top Hessian eigenvectors or along random filter-normalised directions,
 * on the Hessian batch or a whole dataset (evaluated where its products would run).
 */
export async function landscapeRun(o: LandscapeRunOptions): Promise<LandscapeOutput> {
  const directions = choice('the landscape directions', o.directions, LANDSCAPE_DIRECTIONS, LANDSCAPE_DEFAULTS.directions);
  const dims = o.dims ?? LANDSCAPE_DEFAULTS.dims;
  if (dims !== 1 && dims !== 2) throw new OptionError(`a landscape has 1 or 2 dimensions, got ${String(dims)}`);
  const steps = count('the number of grid points per axis', o.steps, LANDSCAPE_DEFAULTS.steps, 2);
  const range = positive('the landscape range', o.range) ?? LANDSCAPE_DEFAULTS.range;
  const seed = seedOf(o.seed);
  const data = resolveCurvatureData(o);

  const t0 = performance.now();
  let products = 0;
  let dirs: Float32Array[];
  if (directions === 'random') {
    dirs = Array.from({ length: dims }, (_, i) => filterNormalizedDirection(o.model, { seed: seed * 2 + i, includeBiasBn: !!o.includeBiasBn }));
  } else if (o.eigenvectors && o.eigenvectors.length >= dims) {
    dirs = o.eigenvectors.slice(0, dims);
  } else {
    const op = await openCurvature(o, data, 'batch');
    try {
      const r = await lanczosEigs(op, { k: dims, seed, onProgress: (p) => o.onProgress?.('eigenvectors', p), ...(o.signal ? { signal: o.signal } : {}) }).catch((e: unknown) => {
        throw o.signal?.aborted ? new HesseError(STOPPED) : e;
      });
      if (r.aborted) throw new HesseError(STOPPED);
      products = op.stats.products;
      dirs = r.eigenvectors;
    } finally {
      await op.close();
    }
  }
  const directionsMs = performance.now() - t0;

  const executor = await data.place({ model: o.model, dataset: o.dataset, normalize: o.normalize, plan: data.plan, ...o.curvature });
  let landscape: LandscapeResult;
  let evaluation: EvaluationResult;
  const t1 = performance.now();
  try {
    const evaluate: Evaluator = (theta) => executor.losses(theta);
    const origin = await originEvaluation(evaluate, o.model.theta);
    evaluation = evaluationSection(o.dataset, { ...origin, samples: data.samples }, performance.now() - t1);
    const grid = { steps, range, onProgress: (p: Progress) => o.onProgress?.('landscape', p), ...(o.signal ? { signal: o.signal } : {}) };
    const surface = dims === 1 ? await landscape1d(evaluate, o.model.theta, dirs[0]!, grid) : await landscape2d(evaluate, o.model.theta, dirs[0]!, dirs[1]!, grid);
    landscape = {
      dims,
      directions,
      alphas: surface.alphas,
      loss: surface.loss,
      // regression has no accuracy to draw
      ...(evaluation.accuracy !== undefined ? { accuracy: surface.accuracy } : {}),
      originLoss: origin.loss,
      bnMode: data.curvature.objective.bnMode,
      samples: data.samples,
      ms: performance.now() - t1,
    };
    if (surface.dims === 2) landscape.betas = surface.betas;
  } finally {
    await executor.close();
  }

  const results = commandResults('landscape', o, {
    samples: { landscape: data.samples },
    options: { seed, ...data.record, directions, dims, steps, range, includeBiasBn: !!o.includeBiasBn },
    timings: { directions: directionsMs, landscape: landscape.ms ?? 0 },
    products: { directions: products },
    sections: { evaluation, landscape },
    interrupted: o.signal?.aborted === true,
  });
  return { results, landscape };
}
