/**
 * The curvature of one run at one checkpoint: the top eigenvalues (Lanczos, warm-started from the
 * previous checkpoint's top eigenvector), the trace and the spectral density, through `analyze`,
 * on the fixed Hessian batch (the first N training images) or the whole training set; beside them
 * the loss on those images and the epoch's training and test figures.
 */
import type { Model } from '../nn/index.js';
import type { Progress } from '../linalg/index.js';
import { finiteExtent, type StudyCheckpoint } from '../report/index.js';
import { evaluate, type EpochRecord } from '../train/index.js';
import { analyze, type AnalyzeOptions } from './analyze.js';
import type { StudyData } from './studyData.js';
import type { StudySettings } from './studySettings.js';

export interface CheckpointAnalysis {
  record: StudyCheckpoint;
  /** the top eigenvector, the next checkpoint's start vector */
  eigenvector: Float32Array;
}

export interface CheckpointContext {
  model: Model;
  data: StudyData;
  settings: StudySettings;
  /** seeds the estimators (the run's seed) */
  seed: number;
  /** worker threads for the whole training set's products (default one per core) */
  workers?: number;
  signal?: AbortSignal;
  onProgress?: (stage: string, p: Progress) => void;
}

function spread(nodes: readonly number[][]): number {
  // the ESD's width: the span of the Ritz values, averaged over the probes
  const spans = nodes.map((row) => {
    const e = finiteExtent(row);
    return e ? e.max - e.min : Number.NaN;
  });
  return spans.reduce((a, b) => a + b, 0) / Math.max(1, spans.length);
}

/** What the analysis runs on, from the settings: the Hessian batch or the whole training set. */
function curvatureData(c: CheckpointContext): Pick<AnalyzeOptions, 'model' | 'dataset' | 'normalize' | 'batch' | 'fullDataset' | 'datasetBatchSize' | 'workers' | 'seed'> {
  const s = c.settings;
  // worker threads reload the data from where it lives; images shrunk in memory stay in this thread
  const workers = c.workers ?? (c.data.train.spec ? undefined : 1);
  return {
    model: c.model,
    dataset: c.data.train,
    normalize: c.data.normalize,
    seed: c.seed,
    ...(s.hessianBatch === null
      ? { fullDataset: true, datasetBatchSize: s.hessianDatasetBatch, ...(workers !== undefined ? { workers } : {}) }
      : { batch: s.hessianBatch }),
  };
}

/** Analyses the model as it is after `epoch`; undefined when the signal stopped it (nothing of it is kept). */
export async function analyzeCheckpoint(c: CheckpointContext, epoch: EpochRecord, warm: Float32Array | undefined): Promise<CheckpointAnalysis | undefined> {
  const s = c.settings;
  const t0 = performance.now();
  const common = { ...curvatureData(c), ...(c.signal ? { signal: c.signal } : {}), ...(c.onProgress ? { onProgress: c.onProgress } : {}) };
  const stopped = () => c.signal?.aborted === true;
  const main = await analyze({
    ...common,
    eigen: { k: s.eigen, tol: s.eigenTol, ...(warm ? { startVector: warm } : {}) },
    trace: { method: 'hutchinson', products: s.traceProducts },
    density: { steps: s.densitySteps, probes: s.densityProbes },
  }).catch((e: unknown) => {
    if (stopped()) return undefined;
    throw e;
  });
  if (!main || main.results.interrupted || stopped()) return undefined;
  const r = main.results.results;
  const eigen = r.eigen!;
  const trace = r.trace!;
  const density = r.density!;
  let cold: StudyCheckpoint['cold'];
  if (warm && s.coldStartCheck) {
    const check = await analyze({ ...common, eigen: { k: s.eigen, tol: s.eigenTol } }).catch((e: unknown) => {
      if (stopped()) return undefined;
      throw e;
    });
    if (!check || check.results.interrupted || stopped()) return undefined;
    cold = { topEigenvalues: check.results.results.eigen!.values, products: check.results.results.eigen!.products };
  }
  const n = s.hessianBatch === null ? c.data.train.length : Math.min(s.hessianBatch, c.data.train.length);
  const onHessian = evaluate(c.model, n === c.data.train.length ? c.data.train : c.data.train.subset(0, n), { normalize: c.data.normalize, bnMode: 'eval' });
  const record: StudyCheckpoint = {
    epoch: epoch.epoch + 1,
    topEigenvalues: eigen.values,
    eigenResiduals: eigen.residuals ?? [],
    eigenConverged: eigen.converged ?? false,
    eigenProducts: eigen.products,
    warmStart: !!warm,
    ...(cold ? { cold } : {}),
    trace: trace.estimate,
    traceStdErr: trace.standardError,
    traceProducts: trace.products,
    density: { nodes: density.nodes, weights: density.weights, steps: density.steps, probes: density.probes },
    esdWidth: spread(density.nodes),
    trainLoss: epoch.trainLoss,
    trainAccuracy: epoch.trainAccuracy,
    ...(epoch.testLoss !== undefined ? { testLoss: epoch.testLoss } : {}),
    ...(epoch.testAccuracy !== undefined ? { testAccuracy: epoch.testAccuracy } : {}),
    hessianLoss: onHessian.loss,
    hessianAccuracy: onHessian.accuracy,
    hessianSamples: n,
    products: Object.values(main.results.products).reduce((a, b) => a + b, 0) + (cold?.products ?? 0),
    ms: performance.now() - t0,
  };
  return { record, eigenvector: main.eigenvectors[0]! };
}
