import { hessianOperator } from '../curvature/index.js';
import { hessianBatch, type Dataset, type Normalization } from '../data/index.js';
import { HesseError, OptionError } from '../errors.js';
import { batchEvaluator, datasetEvaluator, filterNormalizedDirection, landscape1d, landscape2d, originEvaluation, type Evaluator } from '../landscape/index.js';
import { lanczosEigs, type Progress } from '../linalg/index.js';
import type { BnMode, Model } from '../nn/index.js';
import type { LandscapeResult } from '../report/results.js';
import { datasetBatches } from './analyze.js';

export interface LandscapeRunOptions {
  model: Model;
  dataset: Dataset;
  normalize: Normalization | null;
  directions: 'eigen' | 'random';
  dims: 1 | 2;
  steps: number;
  range: number;
  /** evaluate on the first N samples (default 200), or on the whole dataset */
  batch?: number;
  fullDataset?: boolean;
  bnMode?: BnMode;
  includeBiasBn?: boolean;
  seed?: number;
  /** top eigenvectors already computed (eigen directions), so they are not computed again */
  eigenvectors?: Float32Array[];
  /** evaluates the whole dataset elsewhere (worker threads, a cluster) instead of in this thread */
  datasetEvaluator?: Evaluator;
  onProgress?: (stage: string, p: Progress) => void;
  signal?: AbortSignal;
}

/**
 * A loss surface along the top Hessian eigenvectors (unit vectors, as PyHessian's tutorial) or
 * along random filter-normalised directions (Li et al.), on a fixed batch or a whole dataset.
 */
export async function landscapeRun(o: LandscapeRunOptions): Promise<{ result: LandscapeResult; products: number; directionsMs: number }> {
  if (o.dims !== 1 && o.dims !== 2) throw new OptionError(`--dims must be 1 or 2, got ${o.dims}`);
  const bnMode = o.bnMode ?? 'eval';
  const n = Math.min(o.batch ?? 200, o.dataset.length);
  const batch = o.fullDataset ? undefined : hessianBatch(o.dataset, n, o.normalize);
  const t0 = performance.now();
  let products = 0;
  let dirs: Float32Array[];
  if (o.directions === 'eigen') {
    if (o.eigenvectors && o.eigenvectors.length >= o.dims) dirs = o.eigenvectors.slice(0, o.dims);
    else {
      const op = hessianOperator(o.model, batch ?? hessianBatch(o.dataset, n, o.normalize), { bnMode });
      const r = await lanczosEigs(op, { k: o.dims, seed: o.seed ?? 0, onProgress: (p) => o.onProgress?.('eigenvectors', p), ...(o.signal ? { signal: o.signal } : {}) }).catch((e: unknown) => {
        throw o.signal?.aborted ? new HesseError('stopped before the eigenvector directions were found: there is no landscape to write') : e;
      });
      if (r.aborted) throw new HesseError('stopped before the eigenvector directions were found: there is no landscape to write');
      products = r.products;
      dirs = r.eigenvectors;
    }
  } else if (o.directions === 'random') {
    dirs = Array.from({ length: o.dims }, (_, i) => filterNormalizedDirection(o.model, { seed: (o.seed ?? 0) * 2 + i, includeBiasBn: !!o.includeBiasBn }));
  } else throw new OptionError(`--directions must be eigen or random, got '${o.directions as string}'`);
  const directionsMs = performance.now() - t0;
  const evaluate: Evaluator = batch
    ? batchEvaluator(o.model, batch, { bnMode })
    : o.datasetEvaluator ?? datasetEvaluator(o.model, datasetBatches(o.dataset, 128, o.normalize), { bnMode });
  const grid = { steps: o.steps, range: o.range, onProgress: (p: Progress) => o.onProgress?.('landscape', p), ...(o.signal ? { signal: o.signal } : {}) };
  const t1 = performance.now();
  const origin = await originEvaluation(evaluate, o.model.theta);
  const surface = o.dims === 1 ? await landscape1d(evaluate, o.model.theta, dirs[0]!, grid) : await landscape2d(evaluate, o.model.theta, dirs[0]!, dirs[1]!, grid);
  const result: LandscapeResult = {
    dims: o.dims,
    directions: o.directions,
    alphas: surface.alphas,
    loss: surface.loss,
    accuracy: surface.accuracy,
    originLoss: origin.loss,
    bnMode,
    samples: batch ? n : o.dataset.length,
    ms: performance.now() - t1,
  };
  if (surface.dims === 2) result.betas = surface.betas;
  return { result, products, directionsMs };
}
