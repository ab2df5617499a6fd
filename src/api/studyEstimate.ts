/**
 * What a study will cost, from throughput measured on this machine in a few seconds: a training
 * step, a test-set forward pass and a few Hessian-vector products, each timed (after a first call
 * that pays for compiling) on a batch of at most 32 of the study's own images at the shallowest
 * and the deepest depth (the cost of a CIFAR ResNet grows
 * with its number of blocks, so other depths are interpolated), then scaled to the study's batch
 * sizes, epochs and checkpoints. The wall time spreads the runs over the workers (longest first).
 */
import type { Dataset } from '../data/index.js';
import { OptionError } from '../errors.js';
import { buildModel } from '../nn/index.js';
import { evaluate, train } from '../train/index.js';
import { analyze } from './analyze.js';
import type { StudyData } from './studyData.js';
import { analysisEpochs, type StudySettings } from './studySettings.js';
import { runArchitecture, type StudyRun } from './studyVariants.js';

export interface StudyEstimate {
  /** all runs' compute, in hours of one worker */
  computeHours: number;
  /** on `workers` workers at once */
  wallHours: number;
  workers: number;
  runs: number;
  /** what was measured, in one line */
  basis: string;
}

/** Seconds per image of a training step, of a test forward pass, and per Hessian-vector product per image. */
export interface Throughput {
  trainPerImage: number;
  evalPerImage: number;
  productPerImage: number;
}

/** Measured batches are at most this large (a larger one is scaled from it, per image). */
const MEASURE_IMAGES = 32;

async function measure(depth: number, s: StudySettings, data: StudyData): Promise<Throughput> {
  const model = buildModel(runArchitecture({ depth, variant: 'bn-res' }, s.width, data.train.classes), 0);
  const m = Math.min(s.batchSize, MEASURE_IMAGES, data.train.length);
  // three steps: the first pays for compiling and allocating, the best of the others is the figure
  const rates: number[] = [];
  await train(model, {
    trainSet: data.train.subset(0, Math.min(3 * m, data.train.length)),
    epochs: 1,
    batchSize: m,
    augment: s.augment,
    normalize: data.normalize,
    onProgress: (p) => {
      if (p.step > 0 || Math.min(3 * m, data.train.length) <= m) rates.push(p.imagesPerSecond);
    },
  });
  const trainPerImage = 1 / Math.max(...rates);
  const test: Dataset = data.test.subset(0, Math.min(m, data.test.length));
  evaluate(model, test, { normalize: data.normalize });
  const t = performance.now();
  evaluate(model, test, { normalize: data.normalize });
  const evalPerImage = (performance.now() - t) / 1000 / test.length;
  const hessian = Math.min(s.hessianBatch ?? data.train.length, MEASURE_IMAGES, data.train.length);
  const products = 3;
  const run = (n: number) => analyze({ model, dataset: data.train, normalize: data.normalize, batch: hessian, trace: { products: n } });
  await run(1);
  const timed = await run(products);
  const productPerImage = timed.results.timings.trace! / 1000 / products / hessian;
  return { trainPerImage, evalPerImage, productPerImage };
}

function interpolate(a: Throughput, b: Throughput, da: number, db: number, d: number): Throughput {
  const w = db === da ? 0 : (d - da) / (db - da);
  const mix = (x: number, y: number) => x + w * (y - x);
  return { trainPerImage: mix(a.trainPerImage, b.trainPerImage), evalPerImage: mix(a.evalPerImage, b.evalPerImage), productPerImage: mix(a.productPerImage, b.productPerImage) };
}

/** Products of one checkpoint: a Lanczos run (cold about 20, warm fewer) and its cold-start check, the trace, the density. */
function productsPerCheckpoint(s: StudySettings): number {
  return 20 * s.eigen + (s.coldStartCheck ? 20 * s.eigen : 0) + s.traceProducts + s.densitySteps * s.densityProbes;
}

/** Longest run first onto the least loaded worker: the time the last worker finishes. */
export function spread(durations: number[], workers: number): number {
  const load = new Array<number>(Math.max(1, workers)).fill(0);
  for (const d of [...durations].sort((a, b) => b - a)) {
    const i = load.indexOf(Math.min(...load));
    load[i]! += d;
  }
  return Math.max(...load);
}

/**
 * How many workers the estimate spreads the runs over: the cluster's worker slots serving the run
 * (at least one, to say something) or the local worker processes, and never more than the runs to do.
 */
export function estimateWorkers(runs: number, o: { parallel: number; clusterSlots?: number }): number {
  const workers = o.clusterSlots !== undefined ? Math.max(1, o.clusterSlots) : o.parallel;
  return Math.max(1, Math.min(workers, runs));
}

export async function estimateStudy(s: StudySettings, data: StudyData, runs: readonly StudyRun[], workers: number): Promise<StudyEstimate> {
  const lo = s.depths[0]!;
  const hi = s.depths.at(-1)!;
  const measured = new Map<number, Throughput>([[lo, await measure(lo, s, data)]]);
  if (hi !== lo) measured.set(hi, await measure(hi, s, data));
  return studyCost(s, { train: data.train.length, test: data.test.length }, runs, workers, measured);
}

/**
 * The estimate from throughput figures: at the shallowest and the deepest of the study's depths
 * (`measured`; one entry when they are the same), interpolated in between. Pure: the same figures
 * give the same estimate.
 */
export function studyCost(
  s: StudySettings,
  images: { train: number; test: number },
  runs: readonly StudyRun[],
  workers: number,
  measured: ReadonlyMap<number, Throughput>,
): StudyEstimate {
  const lo = s.depths[0]!;
  const hi = s.depths.at(-1)!;
  const at = (d: number) => {
    const t = measured.get(d);
    if (!t) throw new OptionError(`no throughput figures for ResNet-${d}; give them for the shallowest and the deepest depth of the study (${lo} and ${hi})`);
    return t;
  };
  const lt = at(lo);
  const ht = hi === lo ? lt : at(hi);
  const hessian = s.hessianBatch === null ? images.train : Math.min(s.hessianBatch, images.train);
  const checkpoints = analysisEpochs(s).length;
  const seconds = runs.map((r) => {
    const t = interpolate(lt, ht, lo, hi, r.depth);
    const training = s.epochs * (images.train * t.trainPerImage + images.test * t.evalPerImage);
    // a checkpoint's products, and its primal passes (about a training step each) and loss
    const curvature = checkpoints * hessian * (productsPerCheckpoint(s) * t.productPerImage + 3 * t.trainPerImage);
    return training + curvature;
  });
  const compute = seconds.reduce((a, b) => a + b, 0);
  const basis =
    `measured here: ResNet-${lo} at ${(1 / lt.trainPerImage).toFixed(0)} training images/s and ${(1 / lt.productPerImage).toFixed(0)} image-products/s` +
    (hi !== lo ? `, ResNet-${hi} at ${(1 / ht.trainPerImage).toFixed(0)} and ${(1 / ht.productPerImage).toFixed(0)}` : '') +
    `; ${runs.length} runs x ${s.epochs} epochs, ${checkpoints} checkpoints of about ${productsPerCheckpoint(s)} products on ${hessian.toLocaleString('en-US')} images`;
  return { computeHours: compute / 3600, wallHours: spread(seconds, workers) / 3600, workers, runs: runs.length, basis };
}
