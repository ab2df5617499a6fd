/**
 * Training throughput: ResNet-20 (BN, residual) on CIFAR-shaped batches of 128 from the synthetic
 * set, through the real training loop (loading, crop/flip augmentation, normalisation, train-mode
 * forward and backward, BN running statistics, SGD with momentum and weight decay). Prints the
 * median images/s over the measured steps, after warm-up steps that are not counted.
 * HESSE_BENCH_TRAIN_STEPS (default 6) and HESSE_BENCH_TRAIN_WARMUP (default 1) set the step counts.
 */
import { CIFAR10_NORMALIZATION, synthetic } from '../src/data/index.js';
import { kernelsInfo } from '../src/kernels/index.js';
import { resnet } from '../src/nn/index.js';
import { train } from '../src/train/index.js';
import { envInt } from './stats.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length;
  return m % 2 ? s[(m - 1) / 2]! : (s[m / 2 - 1]! + s[m / 2]!) / 2;
}

export async function benchTrain(): Promise<void> {
  const batchSize = 128;
  const steps = envInt('HESSE_BENCH_TRAIN_STEPS', 6);
  const warm = envInt('HESSE_BENCH_TRAIN_WARMUP', 1);
  const trainSet = synthetic({ n: batchSize * (warm + steps), seed: 0 });
  const model = resnet({ depth: 20, classes: 10, seed: 0 });
  console.log(`\nTraining: ResNet-20 (BN, residual, ${model.size} parameters), batch ${batchSize}, SGD momentum 0.9 + weight decay, augmentation on, kernels: ${kernelsInfo().description}`);
  const rates: number[] = [];
  const msPerStep: number[] = [];
  await train(model, {
    trainSet,
    epochs: 1,
    batchSize,
    lr: 0.1,
    schedule: { kind: 'constant' },
    normalize: CIFAR10_NORMALIZATION,
    onProgress: (p) => {
      if (p.step < warm) return;
      rates.push(p.imagesPerSecond);
      msPerStep.push((1000 * p.batchSize) / p.imagesPerSecond);
    },
  });
  console.log(`  steps measured                      ${rates.length} (after ${warm} warm-up)`);
  console.log(`  median step                         ${median(msPerStep).toFixed(0)} ms`);
  console.log(`  training throughput                 ${median(rates).toFixed(1)} images/s`);
  console.log(`  one CIFAR-10 epoch (50000 images)   ${(50000 / median(rates) / 60).toFixed(1)} min at that rate`);
}
