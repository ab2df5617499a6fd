/**
 * Training throughput: ResNet-20 (BN, residual) on CIFAR-shaped batches of 128 from the synthetic
 * set, through the real training loop (loading, crop/flip augmentation, normalisation, train-mode
 * forward and backward, BN running statistics, SGD with momentum and weight decay). Prints the
 * median images/s over the measured steps, after warm-up steps that are not counted.
 * HESSE_BENCH_TRAIN_STEPS (default 6) and HESSE_BENCH_TRAIN_WARMUP (default 1) set the step counts.
 * Beside it, in HESSE_BENCH_PAIRS alternating pairs (default 3), PyTorch's training step on the same
 * ResNet-20 (../shared/anchors/torch_train_bench.py: train-mode BN, SGD with momentum and weight
 * decay, 2 threads) where Debian's python3-torch is installed, and the median ratio of the pairs.
 */
import { CIFAR10_NORMALIZATION, synthetic } from '../src/data/index.js';
import { kernelsInfo } from '../src/kernels/index.js';
import { resnet } from '../src/nn/index.js';
import { train } from '../src/train/index.js';
import { cpus } from 'node:os';
import { envInt } from './stats.js';
import { anchor, pythonWithPeak, torchAvailable } from './torch.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length;
  return m % 2 ? s[(m - 1) / 2]! : (s[m / 2 - 1]! + s[m / 2]!) / 2;
}

/** One measurement: median images/s and ms per step of the real training loop. */
async function hesseTraining(steps: number, warm: number): Promise<{ rate: number; msPerStep: number }> {
  const batchSize = 128;
  const trainSet = synthetic({ n: batchSize * (warm + steps), seed: 0 });
  const model = resnet({ depth: 20, classes: 10, seed: 0 });
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
  return { rate: median(rates), msPerStep: median(msPerStep) };
}

export async function benchTrain(): Promise<void> {
  const steps = envInt('HESSE_BENCH_TRAIN_STEPS', 6);
  const warm = envInt('HESSE_BENCH_TRAIN_WARMUP', 1);
  const pairs = envInt('HESSE_BENCH_PAIRS', 3);
  const withTorch = torchAvailable();
  console.log(
    `\nTraining on ${cpus()[0]?.model ?? 'unknown CPU'}: ResNet-20 (BN, residual), batch 128, SGD momentum 0.9 + weight decay, augmentation on, ` +
      `kernels: ${kernelsInfo().description}; ${steps} steps measured after ${warm} warm-up${withTorch ? `, PyTorch beside it in ${pairs} pairs` : ''}`,
  );
  const rows: { ours: number; torch?: number }[] = [];
  for (let p = 0; p < (withTorch ? pairs : 1); p++) {
    const ours = await hesseTraining(steps, warm);
    const torch = withTorch ? (pythonWithPeak(anchor('torch_train_bench.py'), ['--batch', '128', '--threads', '2', '--steps', String(Math.max(steps, 4))]) as { images_per_s: number }).images_per_s : undefined;
    rows.push(torch === undefined ? { ours: ours.rate } : { ours: ours.rate, torch });
    console.log(`  ${withTorch ? `pair ${p + 1}: ` : ''}hesse ${ours.rate.toFixed(1)} images/s (${ours.msPerStep.toFixed(0)} ms per step)${torch === undefined ? '' : `, PyTorch ${torch.toFixed(1)} images/s`}`);
  }
  const rate = median(rows.map((r) => r.ours));
  console.log(`  training throughput                 ${rate.toFixed(1)} images/s (median)`);
  console.log(`  one CIFAR-10 epoch (50000 images)   ${(50000 / rate / 60).toFixed(1)} min at that rate`);
  if (withTorch) {
    console.log(`  PyTorch                             ${median(rows.map((r) => r.torch!)).toFixed(1)} images/s; hesse / PyTorch throughput, median of pairs ${median(rows.map((r) => r.ours / r.torch!)).toFixed(2)}`);
  }
}
