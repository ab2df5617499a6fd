/**
 * The study's presets: what a run of the batch-norm / residual study costs is set mostly by the
 * data, the depths and the epochs, so each preset fixes those for one kind of machine. Anything
 * given beside a preset overrides it.
 */
import { DEFAULT_DEPTHS, VARIANT_NAMES } from './studyVariants.js';

export const PRESET_NAMES = ['smoke', 'laptop', 'paper'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** Everything that decides a study's numbers (where it runs does not). */
export interface StudyRecipe {
  /** a data source: synthetic[:N], cifar10[:DIR], cifar100[:DIR] */
  data: string;
  /** the first N images of the training split (null: all) */
  trainSamples: number | null;
  /** the first N images of the test split (null: all) */
  testSamples: number | null;
  /** images shrunk to this side by averaging square blocks (null: as stored) */
  imageSize: number | null;
  depths: number[];
  width: number;
  variants: string[];
  seeds: number[];
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  augment: boolean;
  /** after a divergence at the base rate: the run starts again with a linear warm-up of this many epochs */
  warmupEpochs: number;
  /** ... and, should it still diverge, halves the rate up to this many times */
  halvings: number;
  /** curvature every this many epochs, and always at the end */
  analyzeEvery: number;
  /** the Hessian on the first N training images, or null for the whole training set */
  hessianBatch: number | null;
  /** the whole training set: products over batches of this size */
  hessianDatasetBatch: number;
  eigen: number;
  eigenTol: number;
  /** at each warm-started checkpoint, also a cold start, to measure what the warm start saves */
  coldStartCheck: boolean;
  traceProducts: number;
  densitySteps: number;
  densityProbes: number;
}

/** Without a preset: PyHessian's recipe and analysis on full CIFAR-10, one seed. */
export const STUDY_DEFAULTS: Readonly<StudyRecipe> = Object.freeze({
  data: 'cifar10',
  trainSamples: null,
  testSamples: null,
  imageSize: null,
  depths: [...DEFAULT_DEPTHS],
  width: 16,
  variants: [...VARIANT_NAMES],
  seeds: [0],
  epochs: 180,
  batchSize: 128,
  lr: 0.1,
  momentum: 0.9,
  weightDecay: 5e-4,
  augment: true,
  warmupEpochs: 5,
  halvings: 3,
  analyzeEvery: 45,
  hessianBatch: 200,
  hessianDatasetBatch: 128,
  eigen: 1,
  eigenTol: 1e-3,
  coldStartCheck: true,
  traceProducts: 100,
  densitySteps: 100,
  densityProbes: 1,
});

export const STUDY_PRESETS: Readonly<Record<PresetName, Readonly<Partial<StudyRecipe>>>> = Object.freeze({
  // seconds on two cores: 8x8 synthetic images, ResNet-8 and -14 of width 4, every variant
  smoke: {
    data: 'synthetic:256',
    testSamples: 128,
    imageSize: 8,
    depths: [8, 14],
    width: 4,
    epochs: 4,
    batchSize: 32,
    // a random crop with 4 pixels of padding would leave little of an 8x8 image
    augment: false,
    warmupEpochs: 1,
    analyzeEvery: 2,
    hessianBatch: 32,
    traceProducts: 10,
    densitySteps: 10,
  },
  // hours on two cores: a tenth of CIFAR-10, ResNet-20 and -32, a few epochs
  laptop: {
    data: 'cifar10',
    trainSamples: 5000,
    testSamples: 1000,
    depths: [20, 32],
    epochs: 8,
    warmupEpochs: 1,
    analyzeEvery: 2,
    traceProducts: 40,
    densitySteps: 40,
  },
  // the paper's 180-epoch schedule on all of CIFAR-10 with three seeds: meant for a cluster
  paper: {
    data: 'cifar10',
    seeds: [0, 1, 2],
  },
});
