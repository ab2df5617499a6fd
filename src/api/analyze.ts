import { datasetHessianOperator, hessianOperator, layerGroups, restrictOperator, type BatchSource, type CurvatureKind, type CurvatureOperator } from '../curvature/index.js';
import { DataLoader, hessianBatch, type Dataset, type Normalization } from '../data/index.js';
import { OptionError } from '../errors.js';
import {
  densityOnGrid,
  hutchinson,
  hutchinsonDiagonal,
  hutchPlusPlus,
  lanczosEigs,
  powerIteration,
  slq,
  type Progress,
} from '../linalg/index.js';
import type { BnMode, Model } from '../nn/index.js';
import type { DensityResult, EigenResult, PerLayerResult, ResultsSections, TraceResult } from '../report/results.js';

export type EigenMethod = 'power' | 'lanczos';
export type TraceMethod = 'hutchinson' | 'hutch++';

export interface AnalyzeOptions {
  model: Model;
  dataset: Dataset;
  /** per-channel normalisation applied to every batch (null: raw pixels) */
  normalize: Normalization | null;
  /** the Hessian batch: the first N samples (PyHessian's analysis batch); default 200 */
  batch?: number;
  /** the Hessian of the mean loss over the whole dataset instead of one batch */
  fullDataset?: boolean;
  /** batch size for the dataset mode's products (default 128) */
  datasetBatchSize?: number;
  /** the K largest eigenvalues (0: none) */
  eigen?: number;
  method?: EigenMethod;
  trace?: boolean;
  traceMethod?: TraceMethod;
  /** products for the trace (Hutchinson's probes; Hutch++'s budget, rounded to a multiple of 3); default 100 / 99 */
  traceProducts?: number;
  /** PyHessian's stopping rule for Hutchinson (relative change of the running mean) */
  traceTol?: number;
  density?: boolean;
  densitySteps?: number;
  densityProbes?: number;
  diag?: boolean;
  /** per-layer traces (from one set of probes: block sums of the diagonal estimate) */
  perLayer?: boolean;
  /** also each layer's top eigenvalue (a Lanczos run on each layer's block: one product per step per layer) */
  perLayerEigen?: boolean;
  probes?: number;
  bnMode?: BnMode;
  curvature?: CurvatureKind;
  seed?: number;
  /** a ready operator to use instead of building one (e.g. products on worker threads or a cluster) */
  operator?: CurvatureOperator;
  onProgress?: (stage: string, p: Progress) => void;
  signal?: AbortSignal;
}

export interface AnalyzeOutput {
  results: ResultsSections;
  timings: Record<string, number>;
  products: Record<string, number>;
  samples: number;
  interrupted: boolean;
  /** the top eigenvectors, for landscapes along them */
  eigenvectors: Float32Array[];
  operator: CurvatureOperator;
}

function checkCount(name: string, v: number | undefined, fallback: number, min = 1): number {
  const x = v ?? fallback;
  if (!Number.isInteger(x) || x < min) throw new OptionError(`${name} must be an integer of at least ${min}, got ${x}`);
  return x;
}

/** The batches of a dataset in order, normalised, without augmentation (the dataset-mode Hessian). */
export function datasetBatches(dataset: Dataset, batchSize: number, normalize: Normalization | null): BatchSource {
  const loader = new DataLoader(dataset, { batchSize, shuffle: false, normalize, augment: false });
  return { batches: () => loader.epoch(0) };
}

/** Builds the curvature operator an analysis runs on: one Hessian batch, or the whole dataset. */
export function analysisOperator(opts: AnalyzeOptions): { operator: CurvatureOperator; samples: number } {
  const { model, dataset } = opts;
  const common = { kind: opts.curvature ?? 'hessian', bnMode: opts.bnMode ?? 'eval' } as const;
  if (opts.operator) return { operator: opts.operator, samples: opts.operator.info.samples };
  if (opts.fullDataset) {
    const bs = checkCount('the dataset batch size', opts.datasetBatchSize, 128);
    return { operator: datasetHessianOperator(model, datasetBatches(dataset, bs, opts.normalize), common), samples: dataset.length };
  }
  const n = Math.min(checkCount('--batch', opts.batch, 200), dataset.length);
  return { operator: hessianOperator(model, hessianBatch(dataset, n, opts.normalize), common), samples: n };
}

/**
 * PyHessian's three verbs and more on one operator: top eigenvalues (power iteration or
 * Lanczos), the trace (Hutchinson or Hutch++), the spectral density (SLQ), the diagonal and
 * per-layer traces. Each step records its products and time; a stop (signal) keeps what finished.
 */
export async function analyze(opts: AnalyzeOptions): Promise<AnalyzeOutput> {
  const seed = opts.seed ?? 0;
  const { operator, samples } = analysisOperator(opts);
  const results: ResultsSections = {};
  const timings: Record<string, number> = {};
  const products: Record<string, number> = {};
  let interrupted = false;
  let eigenvectors: Float32Array[] = [];
  const progress = (stage: string) => (p: Progress) => opts.onProgress?.(stage, p);
  const common = (stage: string) => ({ seed, onProgress: progress(stage), ...(opts.signal ? { signal: opts.signal } : {}) });
  const record = (stage: string, r: { products: number; wallTimeMs: number; aborted: boolean }) => {
    timings[stage] = r.wallTimeMs;
    products[stage] = r.products;
    if (r.aborted) interrupted = true;
  };
  const stopped = () => interrupted || opts.signal?.aborted === true;
  // A stop that lands before a step's first product rejects that step; what finished is kept.
  const guard = async <T>(f: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await f();
    } catch (e) {
      if (opts.signal?.aborted) {
        interrupted = true;
        return undefined;
      }
      throw e;
    }
  };

  const k = checkCount('--eigen', opts.eigen, 0, 0);
  if (k > 0 && !stopped()) {
    const method = opts.method ?? 'lanczos';
    let r: EigenResult;
    if (method === 'power') {
      const p = await guard(() => powerIteration(operator, { topN: k, ...common('eigen') }));
      if (!p) return finish();
      record('eigen', p);
      eigenvectors = p.eigenvectors;
      r = { method: 'power iteration (PyHessian)', values: p.eigenvalues, products: p.products, ms: p.wallTimeMs };
    } else if (method === 'lanczos') {
      const l = await guard(() => lanczosEigs(operator, { k, which: 'largest', ...common('eigen') }));
      if (!l) return finish();
      record('eigen', l);
      eigenvectors = l.eigenvectors;
      r = { method: 'thick-restart Lanczos', values: l.eigenvalues, residuals: l.residualNorms, converged: l.converged.every(Boolean), products: l.products, ms: l.wallTimeMs };
    } else throw new OptionError(`--method must be power or lanczos, got '${method}'`);
    results.eigen = r;
  }

  if (opts.trace && !stopped()) {
    const method = opts.traceMethod ?? 'hutchinson';
    let r: TraceResult;
    if (method === 'hutchinson') {
      const h = await guard(() => hutchinson(operator, { probes: opts.traceProducts ?? 100, ...(opts.traceTol !== undefined ? { tol: opts.traceTol } : {}), ...common('trace') }));
      if (!h) return finish();
      record('trace', h);
      r = { method: 'Hutchinson (Rademacher)', estimate: h.estimate, standardError: h.standardError, probes: h.samples.length, products: h.products, ms: h.wallTimeMs };
    } else if (method === 'hutch++') {
      const budget = Math.max(3, Math.floor((opts.traceProducts ?? 99) / 3) * 3);
      const h = await guard(() => hutchPlusPlus(operator, { products: budget, ...common('trace') }));
      if (!h) return finish();
      record('trace', h);
      r = { method: 'Hutch++', estimate: h.estimate, standardError: h.standardError, probes: h.residualSamples.length, products: h.products, ms: h.wallTimeMs };
    } else throw new OptionError(`--trace-method must be hutchinson or hutch++, got '${method}'`);
    results.trace = r;
  }

  if (opts.density && !stopped()) {
    const steps = checkCount('--density-steps', opts.densitySteps, 100);
    const probes = checkCount('--density-probes', opts.densityProbes, 1);
    const s = await guard(() => slq(operator, { steps: Math.min(steps, operator.size), probes, reorthogonalize: 'full', ...common('density') }));
    if (!s) return finish();
    record('density', s);
    const grid = densityOnGrid(s);
    const d: DensityResult = {
      nodes: s.runs.map((run) => [...run.nodes]),
      weights: s.runs.map((run) => [...run.weights]),
      grid: [...grid.grid],
      density: [...grid.density],
      steps,
      probes,
      reorthogonalization: 'full',
      sigmaSquared: grid.sigmaSquared,
      products: s.products,
      ms: s.wallTimeMs,
    };
    results.density = d;
  }

  if ((opts.diag || opts.perLayer) && !stopped()) {
    const groups = layerGroups(opts.model.blocks);
    const blocks = operator.info.blocks.length === opts.model.blocks.length
      ? groups.map((g) => ({ name: g.name, offset: g.blocks[0]!.offset, length: g.blocks.reduce((s, b) => s + b.length, 0) }))
      : [];
    const d = await guard(() => hutchinsonDiagonal(operator, { probes: checkCount('--probes', opts.probes, 50), blocks, ...common('diagonal') }));
    if (!d) return finish();
    record('diagonal', d);
    if (opts.diag) {
      results.diagonal = {
        method: 'Hutchinson diagonal (Rademacher)',
        probes: d.samples,
        products: d.products,
        ms: d.wallTimeMs,
        perBlock: opts.model.blocks.map((b) => {
          let sum = 0;
          for (let i = b.offset; i < b.offset + b.length; i++) sum += d.diagonal[i]!;
          return { name: b.name, sum, mean: sum / b.length, parameters: b.length };
        }),
      };
    }
    if (opts.perLayer) {
      const perLayer: PerLayerResult[] = d.blocks.map((b) => ({ name: b.name, parameters: b.length, trace: b.trace, traceStdErr: b.standardError }));
      if (opts.perLayerEigen) {
        const t0 = performance.now();
        let used = 0;
        for (const [i, g] of groups.entries()) {
          if (stopped()) break;
          const sub = restrictOperator(operator, g.blocks);
          const l = await guard(() => lanczosEigs(sub, { k: 1, tol: 1e-3, ...common(`layer ${g.name}`) }));
          if (!l) break;
          used += l.products;
          if (l.aborted) interrupted = true;
          perLayer[i]!.topEigenvalue = l.eigenvalues[0]!;
        }
        timings.perLayerEigen = performance.now() - t0;
        products.perLayerEigen = used;
      }
      results.perLayer = perLayer;
    }
  }
  return finish();

  function finish(): AnalyzeOutput {
    return { results, timings, products, samples, interrupted: interrupted || opts.signal?.aborted === true, eigenvectors, operator };
  }
}
