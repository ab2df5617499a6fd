import { CIFAR10_NORMALIZATION, synthetic } from '../data/index.js';
import type { Progress } from '../linalg/index.js';
import { describeModel, resnet } from '../nn/index.js';
import type { HesseResults } from '../report/index.js';
import { analyze } from './analyze.js';
import { commandResults } from './commandResults.js';
import { landscapeRun } from './landscapeRun.js';
import { trainingSection, trainRun } from './trainRun.js';

export interface DemoSizes {
  depth: number;
  width: number;
  trainSamples: number;
  testSamples: number;
  epochs: number;
  batchSize: number;
  lr: number;
  hessianBatch: number;
  eigen: number;
  traceProducts: number;
  densitySteps: number;
  perLayerProbes: number;
  landscapeSteps: number;
  landscapeRange: number;
}

/** The demo's sizes: small enough for about two minutes on two cores, large enough to show something. */
export const DEMO_FULL: Readonly<DemoSizes> = Object.freeze({
  depth: 8,
  width: 8,
  trainSamples: 2048,
  testSamples: 512,
  epochs: 4,
  batchSize: 64,
  lr: 0.05,
  hessianBatch: 128,
  eigen: 3,
  traceProducts: 60,
  densitySteps: 60,
  perLayerProbes: 30,
  landscapeSteps: 21,
  landscapeRange: 1,
});

/** A seconds-long run through every step of the demo (a smoke test), with tiny sizes. */
export const DEMO_QUICK: Readonly<DemoSizes> = Object.freeze({
  depth: 8,
  width: 2,
  trainSamples: 64,
  testSamples: 32,
  epochs: 1,
  batchSize: 32,
  lr: 0.05,
  hessianBatch: 16,
  eigen: 2,
  traceProducts: 12,
  densitySteps: 10,
  perLayerProbes: 4,
  landscapeSteps: 5,
  landscapeRange: 1,
});

export interface DemoOptions {
  out: string;
  seed?: number;
  /** narration: one line per step */
  onStep?: (line: string) => void;
  onProgress?: (stage: string, p: Progress) => void;
  signal?: AbortSignal;
  /** 'quick' runs every step at tiny sizes in seconds */
  scale?: 'full' | 'quick';
}

/**
 * The offline demo: a small CIFAR ResNet trained briefly on the built-in synthetic set, then its
 * top eigenvalues, trace, spectral density, per-layer traces and a 1-D landscape along the top
 * eigenvector, all in one results object (the caller writes the report).
 */
export async function runDemo(o: DemoOptions): Promise<{ results: HesseResults; modelPath: string }> {
  const seed = o.seed ?? 0;
  const DEMO = o.scale === 'quick' ? DEMO_QUICK : DEMO_FULL;
  const t0 = performance.now();
  const say = o.onStep ?? (() => {});
  const trainSet = synthetic({ n: DEMO.trainSamples, seed, split: 'train' });
  const testSet = synthetic({ n: DEMO.testSamples, seed, split: 'test' });
  const model = resnet({ depth: DEMO.depth, width: DEMO.width, seed });
  const modelLine = `${describeModel(model.description)}, ${model.size.toLocaleString('en-US')} parameters`;
  const dataLine = `built-in synthetic CIFAR-shaped set (seed ${seed}): ${trainSet.length} training and ${testSet.length} test images, 3x32x32, 10 classes`;
  say(`1/4 training ${modelLine} on ${dataLine} for ${DEMO.epochs} epochs`);
  const trained = await trainRun(model, {
    trainSet,
    testSet,
    normalize: CIFAR10_NORMALIZATION,
    epochs: DEMO.epochs,
    batchSize: DEMO.batchSize,
    lr: DEMO.lr,
    schedule: { kind: 'cosine' },
    seed,
    out: o.out,
    ...(o.signal ? { signal: o.signal } : {}),
    onProgress: (p) => o.onProgress?.(`epoch ${p.epoch + 1}/${p.epochs}`, { done: p.step + 1, total: p.stepsPerEpoch, label: 'train' }),
    onEpoch: (e) =>
      say(`    epoch ${e.epoch + 1}: train loss ${e.trainLoss.toFixed(3)}, test accuracy ${(100 * (e.testAccuracy ?? 0)).toFixed(1)}% (${e.seconds.toFixed(1)} s)`),
  });
  const trainMs = performance.now() - t0;

  say(`2/4 curvature on the first ${DEMO.hessianBatch} test images: top ${DEMO.eigen} eigenvalues, trace, spectral density, per-layer traces`);
  const a = await analyze({
    model,
    dataset: testSet,
    normalize: CIFAR10_NORMALIZATION,
    batch: DEMO.hessianBatch,
    eigen: { k: DEMO.eigen, method: 'lanczos' },
    trace: { method: 'hutch++', products: DEMO.traceProducts },
    density: { steps: DEMO.densitySteps },
    perLayer: { probes: DEMO.perLayerProbes },
    seed,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });

  say(`3/4 loss landscape along the top eigenvector (${DEMO.landscapeSteps} points in [-${DEMO.landscapeRange}, ${DEMO.landscapeRange}])`);
  const l = a.eigenvectors.length > 0 && !o.signal?.aborted
    ? await landscapeRun({
        model,
        dataset: testSet,
        normalize: CIFAR10_NORMALIZATION,
        directions: 'eigen',
        dims: 1,
        steps: DEMO.landscapeSteps,
        range: DEMO.landscapeRange,
        batch: DEMO.hessianBatch,
        eigenvectors: a.eigenvectors,
        seed,
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      })
    : undefined;

  say('4/4 writing the report');
  const inputs = { model: { description: modelLine, file: trained.modelPath }, data: { description: dataLine, source: 'synthetic' } };
  const results = commandResults('demo', { model, dataset: testSet, inputs }, {
    samples: { train: trainSet.length, test: testSet.length, hessian: a.results.inputs.samples.hessian!, landscape: l?.landscape.samples ?? 0 },
    options: { ...a.results.options, epochs: DEMO.epochs, lr: DEMO.lr, landscapeSteps: DEMO.landscapeSteps, landscapeRange: DEMO.landscapeRange },
    timings: { train: trainMs, ...a.results.timings, ...(l ? { landscape: l.landscape.ms ?? 0 } : {}), total: performance.now() - t0 },
    products: a.results.products,
    sections: { ...a.results.results, ...(l ? { landscape: l.landscape } : {}), training: trainingSection(trained.history) },
    interrupted: !!a.results.interrupted || !trained.completed || o.signal?.aborted === true,
  });
  return { results, modelPath: trained.modelPath };
}
