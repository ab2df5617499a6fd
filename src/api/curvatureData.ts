import { availableParallelism } from 'node:os';
import {
  curvatureOperator,
  inProcessExecutor,
  planShards,
  resolveCurvatureOptions,
  type CurvatureOperator,
  type CurvatureOptions,
  type ExecutorFactory,
  type LossResult,
  type ResolvedCurvature,
  type ShardExecutor,
  type ShardPlan,
} from '../curvature/index.js';
import { TensorSet, type AnyDataset, type Normalization } from '../data/index.js';
import { NonFiniteError, OptionError } from '../errors.js';
import { describeModel, type Model } from '../nn/index.js';
import { createExecutor, type ClusterOptions } from '../parallel/index.js';
import type { EvaluationResult, JsonValue } from '../report/results.js';
import { count } from './check.js';
import { splitOf } from './commandResults.js';
import { checkDataFits } from './dataFit.js';

/** What the curvature is computed on and where its products run: shared by analyze and landscape. */
export interface CurvatureDataOptions {
  model: Model;
  /** labelled images, or a tensor set (token sequences, features with float targets) */
  dataset: AnyDataset;
  /** per-channel normalisation applied to every batch (null: raw pixels) */
  normalize: Normalization | null;
  /** which curvature: kind (Hessian or GGN), BN mode, loss; default the Hessian of the cross-entropy with BN in eval mode */
  curvature?: CurvatureOptions;
  /** the Hessian batch: the first N samples (PyHessian's analysis batch); default 200 */
  batch?: number;
  /** the mean loss over the whole dataset instead of one batch */
  fullDataset?: boolean;
  /** whole dataset: the batch size of the products (default 128) */
  datasetBatchSize?: number;
  /** whole dataset: worker threads (1: this thread); default one per core, this thread for a dataset built in memory */
  workers?: number;
  /** whole dataset: the products on a Redis cluster of `hesse worker` processes */
  cluster?: ClusterOptions;
  /** whole dataset: any other place for the products (an ExecutorFactory); it takes precedence over workers and cluster */
  place?: ExecutorFactory;
  /** a line for the user: what is computed when nothing was chosen, a choice that changes nothing (BN in train mode on a model without BN) */
  onNote?: (line: string) => void;
}

export const DATA_DEFAULTS = Object.freeze({ batch: 200, datasetBatchSize: 128 });

export interface ResolvedData {
  curvature: ResolvedCurvature;
  /** the samples the curvature averages over, and how they are cut into shards */
  plan: ShardPlan;
  samples: number;
  place: ExecutorFactory;
  /** the Hessian batch alone (the first `batch` samples), for what always runs on one batch */
  batchPlan: ShardPlan;
  /** what the results record of these choices */
  record: Record<string, JsonValue>;
}

// one batch is always kept: recording it again at every product would cost a pass each time
const thisThread: ExecutorFactory = (p) => inProcessExecutor(p, { cacheBytes: Infinity });

/**
 * Checks the choice of data and place and fills in the defaults. The whole dataset is cut into
 * one shard per worker thread, or, on a cluster, into shards of about four batches, so that
 * workers joining later find work.
 */
export function resolveCurvatureData(o: CurvatureDataOptions): ResolvedData {
  const resolved = resolvePlanAndPlace(o);
  checkDataFits(o.model, o.dataset, resolved.curvature.objective);
  if (resolved.curvature.objective.bnMode === 'train' && !o.model.hasBatchNorm) {
    o.onNote?.(
      `BN mode 'train' changes nothing: ${describeModel(o.model.description)} has no batch norm` +
        (o.model.description.arch === 'onnx'
          ? " (the graph has no BatchNormalization node: PyTorch's exporter folds BN into the convolutions unless exported with training=TrainingMode.PRESERVE and do_constant_folding=False)"
          : ''),
    );
  }
  return resolved;
}

function resolvePlanAndPlace(o: CurvatureDataOptions): ResolvedData {
  const length = o.dataset.length;
  const n = Math.min(count('the Hessian batch size', o.batch, DATA_DEFAULTS.batch), length);
  const batchPlan: ShardPlan = { batchSize: n, shards: [{ start: 0, end: n }] };
  if (!o.fullDataset) {
    if (o.workers !== undefined || o.cluster || o.place) {
      throw new OptionError('worker threads and a cluster share out the products of a whole dataset: ask for the full dataset with them (one batch runs in this thread)');
    }
    const curvature = resolveCurvatureOptions(o.curvature ?? {}, n);
    return { curvature, plan: batchPlan, samples: n, place: thisThread, batchPlan, record: record(o, curvature, { batch: n }) };
  }
  const batchSize = count('the batch size of the whole-dataset products', o.datasetBatchSize, DATA_DEFAULTS.datasetBatchSize);
  const workers = count('the number of worker threads', o.workers, availableParallelism());
  const batches = Math.ceil(length / batchSize);
  const shards = o.cluster ? Math.min(batches, Math.max(2, Math.ceil(batches / 4))) : workers;
  const cluster = o.cluster;
  const place: ExecutorFactory = o.place ?? ((p) => createExecutor(p, { workers, ...(cluster ? { cluster } : {}) }));
  const curvature = resolveCurvatureOptions(o.curvature ?? {}, batchSize);
  const where = { fullDataset: true, datasetBatchSize: batchSize, workers: o.place ? 'custom' : cluster ? 'cluster' : workers };
  return { curvature, plan: planShards(length, { batchSize, shards }), samples: length, place, batchPlan, record: record(o, curvature, where) };
}

/** What the results record of the curvature, the data and where the products ran. */
function record(o: CurvatureDataOptions, c: ResolvedCurvature, where: Record<string, JsonValue>): Record<string, JsonValue> {
  const split = splitOf(o.dataset);
  return {
    bnMode: c.objective.bnMode,
    curvature: c.kind,
    loss: c.objective.loss,
    ...(c.objective.ignoreIndex !== undefined ? { ignoreIndex: c.objective.ignoreIndex } : {}),
    ...(split ? { split } : {}),
    ...where,
    normalization: o.normalize ? { mean: [...o.normalize.mean], std: [...o.normalize.std] } : null,
  };
}

/** The curvature operator of the resolved choice (on `plan`, or on the Hessian batch alone). */
export function openCurvature(o: CurvatureDataOptions, d: ResolvedData, on: 'plan' | 'batch' = 'plan'): Promise<CurvatureOperator> {
  const data = { dataset: o.dataset, normalize: o.normalize, plan: on === 'plan' ? d.plan : d.batchPlan };
  return curvatureOperator(o.model, data, { ...o.curvature, place: on === 'plan' ? d.place : thisThread });
}

/** The evaluation section of a loss result: the accuracy only where the targets are labels (not float regression targets). */
export function evaluationSection(dataset: AnyDataset, r: LossResult, ms: number): EvaluationResult {
  const regression = dataset instanceof TensorSet && dataset.targetKind === 'float';
  return { loss: r.loss, ...(regression ? {} : { accuracy: r.accuracy }), samples: r.samples, ms };
}

/**
 * The loss (and accuracy) at the executor's weights on the data it averages over, refused when
 * the loss is not finite: there is no curvature to speak of there, and every product would fail.
 * It runs before any product, so data that a forward pass alone finds wrong is reported first.
 */
export async function evaluationAtWeights(executor: ShardExecutor, dataset: AnyDataset): Promise<EvaluationResult> {
  const t0 = performance.now();
  const r = await executor.losses();
  if (!Number.isFinite(r.loss)) {
    throw new NonFiniteError(`the loss at the analysed weights is ${r.loss} (not finite): the weights or inputs hold NaN/inf, or the model diverged`);
  }
  return evaluationSection(dataset, r, performance.now() - t0);
}
