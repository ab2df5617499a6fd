/**
 * The `results.json` every hesse command writes: one object per command run, holding what went in
 * (model, data, options, seed), what came out (every number) and what it cost (products, timings).
 * Plain JSON types only (arrays of numbers, not typed arrays), so the file round-trips exactly.
 */

import type { StudyResult } from './studyResults.js';

export type * from './studyResults.js';

/** The marker that tells a hesse results file from any other JSON file. */
export const RESULTS_FORMAT = 'hesse-results';
/** Bumped when a field changes meaning; readers refuse files newer than they understand. */
export const RESULTS_SCHEMA_VERSION = 1;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * The native kernels' configuration and where it came from: 'measured' (timed now, then stored),
 * 'stored' (an earlier measurement on this machine and build), 'default' (the static rule) or
 * 'environment' (HESSE_ISA / HESSE_GEMM), with the milliseconds per candidate when measured.
 */
export interface ResultsKernelChoice {
  isa: string;
  gemm: string;
  convRows: boolean;
  source: string;
  cpu: string;
  measuredAt?: string;
  measuredMs?: Record<string, number>;
}

export interface HesseResults {
  /** Stamped by `writeResults`; optional here so callers need not spell it. */
  format?: typeof RESULTS_FORMAT;
  schemaVersion?: number;
  hesse: {
    /** package.json's version (see `hesseVersion()`). */
    version: string;
    /** Which kernels ran the numbers, as the caller describes them (e.g. 'native (openblas, avx2)'). */
    kernels: string;
    /** How the native kernels were chosen on this machine (absent with the reference kernels). */
    kernelChoice?: ResultsKernelChoice;
    node?: string;
    platform?: string;
  };
  /** 'analyze', 'landscape', 'train', 'demo', ... */
  command: string;
  /** The command line as the user typed it, when there was one. */
  argv?: string[];
  /** ISO 8601. */
  createdAt: string;
  inputs: ResultsInputs;
  options: ResultsOptions;
  /** Milliseconds per step, keyed by step name ('train', 'eigen', 'trace', 'density', ...). */
  timings: Record<string, number>;
  /** Operator products per step, keyed like `timings`. */
  products: Record<string, number>;
  results: ResultsSections;
  /** Set when the user stopped the run (Ctrl-C): the sections hold what was finished. */
  interrupted?: boolean;
  /** Set when a step failed for good (its cluster lost): the sections hold the steps before it. */
  failed?: { stage: string; message: string };
}

export interface ModelDescription {
  /** One line a person reads: 'resnet20 (BN, residual), 10 classes, 269,722 parameters'. */
  description: string;
  file?: string;
  architecture?: string;
  parameters?: number;
  /** The architecture was inferred from the checkpoint's names and shapes rather than stated. */
  inferred?: boolean;
  details?: Record<string, JsonValue>;
}

export interface DataDescription {
  /** One line a person reads: 'CIFAR-10 test split, 10,000 images 3x32x32'. */
  description: string;
  source?: string;
  classes?: number;
  details?: Record<string, JsonValue>;
}

export interface ResultsInputs {
  model: ModelDescription;
  data: DataDescription;
  /** Sample counts by role: { hessian: 128, train: 50000, test: 10000, landscape: 512 }. */
  samples: Record<string, number>;
}

/** Everything the user chose. The named fields are the common ones; anything else goes alongside. */
export interface ResultsOptions {
  seed: number;
  bnMode?: 'eval' | 'train';
  curvature?: 'hessian' | 'ggn';
  /** The loss the curvature is of: 'cross-entropy' or 'mse'. */
  loss?: string;
  /** Cross-entropy targets equal to this were left out of the mean (PyTorch's ignore_index). */
  ignoreIndex?: number;
  eigenMethod?: string;
  traceMethod?: string;
  /** The Hessian batch size, or absent with `fullDataset`. */
  batch?: number;
  fullDataset?: boolean;
  [option: string]: JsonValue | undefined;
}

/**
 * The loss at the analysed weights, on the data the curvature is of (the Hessian batch, or the
 * whole dataset), computed before any product. The loss function is `options.loss`.
 */
export interface EvaluationResult {
  /** the mean loss (batches weighted by their samples, as the curvature is) */
  loss: number;
  /** top-1 accuracy, of the counted targets for token labels; absent for regression (float targets) */
  accuracy?: number;
  /** samples (rows of the batches) evaluated */
  samples: number;
  ms?: number;
}

export interface EigenResult {
  method: string;
  /** Largest first. */
  values: number[];
  /** ‖Hv − λv‖ for each value, when computed. */
  residuals?: number[];
  converged?: boolean;
  iterations?: number;
  /** What of another stage's work this one reused (analyze's sharing), in words. */
  reuses?: string;
  products: number;
  ms: number;
}

export interface TraceResult {
  method: string;
  estimate: number;
  standardError: number;
  /** What `standardError` is, in the estimator's words (guarded for a target-RSE stop, optimistic for XTrace, ...). */
  errorEstimate?: string;
  /** Hutchinson: standardError / |estimate|. */
  relativeStandardError?: number;
  /** Hutchinson: why it stopped: 'probes' (the cap), 'tol', 'target-rse' or 'abort'. */
  stoppedBy?: string;
  /** XTrace: the jackknife standard error, a conservative bracket above the optimistic `standardError`. */
  jackknifeStandardError?: number;
  probes?: number;
  /** What of another stage's work this one reused (analyze's sharing), in words. */
  reuses?: string;
  products: number;
  ms: number;
}

export interface DensityResult {
  /** One row per probe: the Ritz values (PyHessian's density_eigen). */
  nodes: number[][];
  /** One row per probe: the quadrature weights (PyHessian's density_weight). */
  weights: number[][];
  /** The smoothed density on `grid`; equal lengths. */
  grid: number[];
  density: number[];
  steps: number;
  probes: number;
  /** Per probe: restarts of its Lanczos run with a fresh vector after a true breakdown (0: none). */
  restarts?: number[];
  reorthogonalization: 'full' | 'none' | string;
  sigmaSquared?: number;
  products?: number;
  ms?: number;
}

export interface DiagonalBlock {
  name: string;
  sum: number;
  mean: number;
  parameters?: number;
}

export interface DiagonalResult {
  perBlock: DiagonalBlock[];
  method?: string;
  probes?: number;
  products?: number;
  ms?: number;
}

/** One parameter block (layer), in model order. */
export interface PerLayerResult {
  name: string;
  parameters: number;
  trace?: number;
  traceStdErr?: number;
  topEigenvalue?: number;
}

export interface LandscapeResult {
  dims: 1 | 2;
  directions: 'eigen' | 'random';
  /** Steps along the first direction. */
  alphas: number[];
  /** Steps along the second direction (2-D only). */
  betas?: number[];
  /** 1-D: loss[i] at alphas[i]. 2-D: loss[i][j] at (alphas[i], betas[j]). */
  loss: number[] | number[][];
  /** Same layout as `loss`, when the model classifies. */
  accuracy?: number[] | number[][];
  /** The loss at the unperturbed weights (alpha = beta = 0). */
  originLoss?: number;
  bnMode?: 'eval' | 'train';
  samples?: number;
  ms?: number;
}

export interface TrainingEpoch {
  epoch: number;
  trainLoss: number;
  trainAcc: number;
  testLoss?: number;
  testAcc?: number;
  lr: number;
  seconds: number;
}

export interface TrainingResult {
  epochs: TrainingEpoch[];
}

/** Each section is present only when the command computed it. */
export interface ResultsSections {
  /** a whole study (hesse study): its runs, table and verdicts */
  study?: StudyResult;
  evaluation?: EvaluationResult;
  eigen?: EigenResult;
  trace?: TraceResult;
  density?: DensityResult;
  diagonal?: DiagonalResult;
  perLayer?: PerLayerResult[];
  landscape?: LandscapeResult;
  training?: TrainingResult;
}
