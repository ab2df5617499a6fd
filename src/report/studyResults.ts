/**
 * The `study` section of a results file: every run of a study (a variant at a depth with a seed),
 * its training history and its curvature at each checkpoint, the paper's table over the seeds,
 * and the verdict on each of the paper's claims with the numbers that decide it.
 */
import type { JsonValue, TrainingEpoch } from './results.js';

/** The curvature of one run after one epoch. */
export interface StudyCheckpoint {
  /** after this many epochs (1-based) */
  epoch: number;
  /** largest first */
  topEigenvalues: number[];
  eigenResiduals: number[];
  eigenConverged: boolean;
  /** Lanczos products, the confirming ones included */
  eigenProducts: number;
  /** Lanczos started from the previous checkpoint's top eigenvector */
  warmStart: boolean;
  /** the same eigenvalues from a random start, to measure the warm start's saving */
  cold?: { topEigenvalues: number[]; products: number };
  trace: number;
  traceStdErr: number;
  traceProducts: number;
  /** stochastic Lanczos quadrature: Ritz values and weights per probe */
  density: { nodes: number[][]; weights: number[][]; steps: number; probes: number };
  /** the span of the Ritz values (largest minus smallest), averaged over probes */
  esdWidth: number;
  /** mean over the epoch's batches (train-mode BN, before each update), as PyHessian prints */
  trainLoss: number;
  trainAccuracy: number;
  testLoss?: number;
  testAccuracy?: number;
  /** the loss the Hessian is of: on the Hessian's images, eval-mode BN, at the analysed weights */
  hessianLoss: number;
  hessianAccuracy: number;
  hessianSamples: number;
  /** every product of the checkpoint, the cold-start check included */
  products: number;
  ms: number;
}

/** Who ran a run from where: one entry each time a process took it up. */
export interface StudySession {
  /** the epoch and step it started from (0, 0 for a fresh start) */
  from: { epoch: number; step: number };
  host: string;
  pid: number;
  worker?: string;
  startedAt: string;
}

/** What a run needed to train: a warm-up after diverging at the base rate, and how often its rate was halved. */
export interface StudyNeeds {
  warmup: boolean;
  /** the factor on the scheduled learning rate at the end (1: never halved) */
  lrScale: number;
  halvings: number;
  divergences: string[];
}

export interface StudyRunResult {
  id: string;
  depth: number;
  variant: string;
  label: string;
  group: 'grid' | 'stages';
  seed: number;
  batchNorm: boolean | { stem: boolean; stages: boolean[] };
  residual: boolean;
  parameters: number;
  /** done: trained and analysed; diverged: no recipe trained it (its checkpoints up to then are kept); pending: not finished yet */
  status: 'done' | 'diverged' | 'pending';
  needed: StudyNeeds;
  epochs: TrainingEpoch[];
  checkpoints: StudyCheckpoint[];
  sessions: StudySession[];
  /** the divergence that ended a diverged run */
  failure?: string;
}

/** A number over the seeds of a table row. */
export interface StudyCell {
  mean: number;
  /** sample standard deviation over seeds; absent with one seed */
  sd?: number;
  values: number[];
}

export interface StudyTableRow {
  depth: number;
  variant: string;
  label: string;
  group: 'grid' | 'stages';
  /** seeds asked for, finished, diverged */
  seeds: number;
  finished: number;
  diverged: number;
  topEigenvalue: StudyCell | null;
  trace: StudyCell | null;
  trainLoss: StudyCell | null;
  testAccuracy: StudyCell | null;
  /** what the runs needed, in words ('warm-up in 1 of 3 seeds'); empty when nothing */
  needed: string;
}

export type StudyOutcome = 'agrees' | 'disagrees' | 'cannot tell';

/** One comparison a claim rests on: A is the side the claim says is sharper (or less accurate). */
export interface StudyComparison {
  /** one line: 'ResNet-32 with BN: no residual vs residual' */
  what: string;
  metric: string;
  a: number[];
  b: number[];
  /** mean(a) - mean(b) */
  effect: number;
  /** the seed spread of the difference (sqrt(sd_a^2 + sd_b^2)); null with a single seed on a side */
  spread: number | null;
  outcome: StudyOutcome;
  /** why, with the numbers */
  reason: string;
}

export interface StudyVerdict {
  claim: 'residual' | 'batchnorm' | 'stages' | 'sharpness-accuracy';
  /** the paper's claim in one line */
  statement: string;
  outcome: StudyOutcome;
  /** the numbers that decide it, in one line */
  decidedBy: string;
  comparisons: StudyComparison[];
  /** the rank correlation the sharpness-accuracy claim rests on */
  correlation?: { rho: number; pLower: number; pUpper: number; n: number };
}

/** How many products the warm start of Lanczos saved against a cold start, over the checkpoints where both ran. */
export interface StudyWarmStart {
  checkpoints: number;
  warmProducts: number;
  coldProducts: number;
  /** 1 - warm/cold */
  savedFraction: number;
  /** the largest relative difference between the warm and the cold top eigenvalue */
  largestEigenvalueGap: number;
}

export interface StudyResult {
  study: string;
  preset: string | null;
  settings: { [key: string]: JsonValue };
  analysisEpochs: number[];
  runs: StudyRunResult[];
  table: StudyTableRow[];
  verdicts: StudyVerdict[];
  /** the decision rules, written out as the verdicts apply them */
  rules: string[];
  warmStart: StudyWarmStart | null;
  /** the cost estimated before the start */
  estimate?: { computeHours: number; wallHours: number; workers: number; runs: number; basis: string };
  finished: number;
  total: number;
}
