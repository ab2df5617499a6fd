import { describe, expect, it } from 'vitest';
import { CIFAR10_NORMALIZATION, DataLoader, hessianBatch, ImageDataset } from '../../src/data/index.js';
import { OptionError } from '../../src/errors.js';
import { evaluateBatch, lossAndGradient, mlp, resnet } from '../../src/nn/index.js';
import { evaluate, lrSchedule, Sgd, train, type StepProgress } from '../../src/train/index.js';
import { Rng } from '../../src/tensor/index.js';
import { pooledSynthetic } from './smallImages.js';

/** n points of 1x2x2 pixels in [0, 1], labelled by the sign of x0 + x1 - x2 - x3, none within 0.2 of the boundary. */
function separableSet(n: number, seed: number): ImageDataset {
  const rng = new Rng(seed);
  const pixels = new Float32Array(n * 4);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; ) {
    const x = [rng.uniform(), rng.uniform(), rng.uniform(), rng.uniform()];
    const side = x[0]! + x[1]! - x[2]! - x[3]!;
    if (Math.abs(side) < 0.2) continue;
    pixels.set(x, i * 4);
    labels[i++] = side > 0 ? 1 : 0;
  }
  return new ImageDataset({ name: 'separable', pixels, labels, channels: 1, height: 2, width: 2, classes: 2 });
}

const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('train', () => {
  it('a small ResNet on the (pooled) synthetic set drives the loss down and beats chance clearly', async () => {
    const trainSet = pooledSynthetic(400, 'train');
    const testSet = pooledSynthetic(200, 'test');
    const model = resnet({ depth: 8, width: 4, classes: 10, seed: 1 });
    const steps: StepProgress[] = [];
    const { history, completed } = await train(model, {
      trainSet,
      testSet,
      epochs: 5,
      batchSize: 32,
      lr: 0.05,
      schedule: { kind: 'cosine' },
      augment: false,
      seed: 1,
      onProgress: (p) => steps.push(p),
    });
    expect(completed).toBe(true);
    expect(history.map((h) => h.epoch)).toEqual([0, 1, 2, 3, 4]);
    expect(steps.length).toBe(5 * 13);
    expect(steps.every((s) => s.stepsPerEpoch === 13 && s.imagesPerSecond > 0 && Number.isFinite(s.loss))).toBe(true);
    const first = history[0]!;
    const last = history.at(-1)!;
    expect(last.trainLoss).toBeLessThan(0.8 * first.trainLoss);
    expect(last.trainAccuracy).toBeGreaterThan(0.4);
    // chance is 0.1; 0.25 on 200 held-out samples is seven binomial standard deviations above it
    expect(last.testAccuracy!).toBeGreaterThan(0.25);
    // the recorded test figures are what evaluate() says of the final model
    const t = evaluate(model, testSet);
    expect(last.testLoss).toBe(t.loss);
    expect(last.testAccuracy).toBe(t.accuracy);
  }, 30_000);

  // The wiring check: train() runs exactly these parts in this order (with BN and augmentation),
  // bit for bit. It rebuilds the loop from the same parts, so it cannot catch an error inside one
  // of them; each has its own oracle (the SGD and schedule PyTorch fixtures, the ResNet fixtures,
  // and the hand-written SGD test below).
  it('each step is exactly: train-mode loss and gradient, BN running-statistics update, SGD step, in the loader order', async () => {
    const trainSet = pooledSynthetic(40, 'train');
    const opts = { batchSize: 16, seed: 5, lr: 0.07, momentum: 0.8, weightDecay: 1e-3, nesterov: true, normalize: CIFAR10_NORMALIZATION } as const;
    const schedule = { kind: 'multistep', milestones: [1], gamma: 0.3 } as const;
    const warmup = { steps: 2 } as const;
    const a = resnet({ depth: 8, width: 2, classes: 10, seed: 4 });
    const { history } = await train(a, { trainSet, epochs: 2, augment: true, schedule, warmup, ...opts });

    const b = resnet({ depth: 8, width: 2, classes: 10, seed: 4 });
    const loader = new DataLoader(trainSet, { batchSize: 16, seed: 5, augment: true, normalize: CIFAR10_NORMALIZATION });
    const sgd = new Sgd(b.size, { momentum: 0.8, weightDecay: 1e-3, nesterov: true });
    const lr = lrSchedule({ lr: 0.07, epochs: 2, stepsPerEpoch: loader.length, schedule, warmup });
    const losses: number[] = [];
    for (let e = 0; e < 2; e++) {
      let s = 0;
      let lossSum = 0;
      for (const batch of loader.epoch(e)) {
        const r = lossAndGradient(b, batch, { bnMode: 'train' });
        b.updateRunningStats(r.bnStats);
        sgd.step(b.theta, r.gradient, lr(e, s++));
        lossSum += r.loss * batch.y.length;
      }
      losses.push(lossSum / trainSet.length);
    }
    expect(sameBits(a.theta, b.theta)).toBe(true);
    for (const [k, t] of a.buffers) expect(sameBits(t.data, b.buffers.get(k)!.data)).toBe(true);
    expect(a.batchesTracked).toBe(6);
    expect(history.map((h) => h.trainLoss)).toEqual(losses);
    expect(history.map((h) => h.lr)).toEqual([0.07 / 2, 0.07 * 0.3]);
  }, 30_000);

  it('stops cleanly after the current step when the signal aborts, keeping the steps done', async () => {
    const trainSet = pooledSynthetic(48, 'train');
    const model = resnet({ depth: 8, width: 2, classes: 10, seed: 2 });
    const controller = new AbortController();
    const seen: StepProgress[] = [];
    const saved: { epoch: number; step: number }[] = [];
    const result = await train(model, {
      trainSet,
      epochs: 3,
      batchSize: 16,
      signal: controller.signal,
      checkpoint: { save: async (s) => void saved.push({ epoch: s.epoch, step: s.step }) },
      onProgress: (p) => {
        seen.push(p);
        if (p.epoch === 1 && p.step === 0) controller.abort();
      },
    });
    expect(result.completed).toBe(false);
    expect(seen.length).toBe(4);
    expect(result.history.length).toBe(1);
    expect([result.state.epoch, result.state.step]).toEqual([1, 1]);
    expect(result.state.optimizer.steps).toBe(4);
    expect(model.batchesTracked).toBe(4);
    expect(saved).toEqual([{ epoch: 1, step: 0 }, { epoch: 1, step: 1 }]);
  }, 30_000);

  it('trains an MLP (no BN) on a linearly separable set until the loss is a tenth of chance', async () => {
    // Separable with a margin (|x0 + x1 - x2 - x3| >= 0.2), so SGD can drive the loss towards 0:
    // from about ln 2 = 0.69 at the start to 0.014-0.030 after 10 epochs for seeds 1-3. A run
    // whose loss stalls, rises or falls by less than 90% fails.
    const trainSet = separableSet(64, 1);
    const model = mlp({ sizes: [4, 16, 2], seed: 1 });
    const before = evaluate(model, trainSet);
    const { history } = await train(model, { trainSet, epochs: 10, batchSize: 16, augment: false, lr: 0.1, schedule: { kind: 'constant' } });
    const after = evaluate(model, trainSet);
    expect(before.loss).toBeGreaterThan(0.6);
    expect(after.loss).toBeLessThan(0.1 * before.loss);
    expect(after.accuracy).toBe(1);
    expect(history).toHaveLength(10);
    expect(history.at(-1)!.trainLoss).toBeLessThan(0.1 * history[0]!.trainLoss);
    expect(model.batchesTracked).toBe(0);
  });

  it('follows a hand-written float64 SGD (momentum, Nesterov, weight decay, multistep decay, warm-up) on softmax regression', async () => {
    // An independent oracle: the model is one linear layer, whose cross-entropy gradient is
    // (1/B) Σ (softmax(Wx + b) - onehot(y)) [x; 1]ᵀ, and the optimiser and schedule are written
    // out from torch.optim.SGD's and MultiStepLR's definitions. Only the batches come from the
    // DataLoader (its order and contents have their own tests).
    const trainSet = separableSet(24, 2);
    const opts = { batchSize: 8, seed: 3, lr: 0.2, momentum: 0.8, weightDecay: 0.01, nesterov: true } as const;
    const schedule = { kind: 'multistep', milestones: [2], gamma: 0.3 } as const;
    const model = mlp({ sizes: [4, 2], seed: 5 });
    const theta = Float64Array.from(model.theta);
    const epochs = 3;
    const { history } = await train(model, { trainSet, epochs, augment: false, schedule, warmup: { steps: 4 }, ...opts });

    const loader = new DataLoader(trainSet, { batchSize: 8, seed: 3, augment: false });
    const [k, d] = [2, 4];
    const buffer = new Float64Array(theta.length);
    const losses: number[] = [];
    let step = 0;
    for (let e = 0; e < epochs; e++) {
      let lossSum = 0;
      for (const batch of loader.epoch(e)) {
        const grad = new Float64Array(theta.length);
        const b = batch.y.length;
        for (let i = 0; i < b; i++) {
          const x = batch.x.data.subarray(i * d, (i + 1) * d);
          const z = Array.from({ length: k }, (_, c) => theta[k * d + c]! + x.reduce((s, xj, j) => s + theta[c * d + j]! * xj, 0));
          const zMax = Math.max(...z);
          const sum = z.reduce((s, zc) => s + Math.exp(zc - zMax), 0);
          lossSum += zMax + Math.log(sum) - z[batch.y[i]!]!;
          for (let c = 0; c < k; c++) {
            const r = (Math.exp(z[c]! - zMax) / sum - (c === batch.y[i] ? 1 : 0)) / b;
            for (let j = 0; j < d; j++) grad[c * d + j] = grad[c * d + j]! + r * x[j]!;
            grad[k * d + c] = grad[k * d + c]! + r;
          }
        }
        const lr = 0.2 * (e >= 2 ? 0.3 : 1) * Math.min(1, (step + 1) / 4);
        for (let p = 0; p < theta.length; p++) {
          const g = grad[p]! + 0.01 * theta[p]!;
          buffer[p] = step === 0 ? g : 0.8 * buffer[p]! + g;
          theta[p] = theta[p]! - lr * (g + 0.8 * buffer[p]!);
        }
        step++;
      }
      losses.push(lossSum / trainSet.length);
    }
    expect(step).toBe(9);
    // float32 against float64 over nine steps: measured 1.3e-7 of the largest weight, 3e-8 of the loss
    const scale = Math.max(...theta.map(Math.abs));
    model.theta.forEach((t, p) => expect(Math.abs(t - theta[p]!)).toBeLessThan(1e-6 * scale));
    history.forEach((h, e) => expect(Math.abs(h.trainLoss - losses[e]!)).toBeLessThan(1e-6 * losses[e]!));
    expect(history.map((h) => h.lr)).toEqual([0.2 * 0.25, 0.2, 0.2 * 0.3]);
  });

  it('refuses mismatched settings with typed errors', async () => {
    const trainSet = pooledSynthetic(16, 'train');
    await expect(train(resnet({ depth: 8, width: 2, classes: 5 }), { trainSet, epochs: 1 })).rejects.toThrow(/10 classes but the model has 5 outputs/);
    await expect(train(resnet({ depth: 8, width: 2 }), { trainSet, epochs: 0 })).rejects.toThrow(OptionError);
    await expect(train(resnet({ depth: 8, width: 2 }), { trainSet, epochs: 1, batchSize: 32, dropLast: true })).rejects.toThrow(/no full batch/);
  });
});

describe('evaluate', () => {
  it('is the sample-weighted mean over uneven batches, in eval mode, and leaves the running statistics alone', () => {
    const data = pooledSynthetic(23, 'test');
    const model = resnet({ depth: 8, width: 2, classes: 10, seed: 3 });
    // non-trivial running statistics, so eval mode differs from batch statistics
    for (const [k, t] of model.buffers) t.data.forEach((_, i) => (t.data[i] = k.endsWith('var') ? 0.5 + 0.1 * i : 0.05 * i));
    const before = new Map([...model.buffers].map(([k, t]) => [k, t.data.slice()]));
    const whole = evaluateBatch(model, hessianBatch(data, 23, CIFAR10_NORMALIZATION), { bnMode: 'eval' });
    const r = evaluate(model, data, { batchSize: 5, normalize: CIFAR10_NORMALIZATION });
    expect(r.count).toBe(23);
    expect(r.loss).toBeCloseTo(whole.loss, 5);
    expect(r.accuracy).toBeCloseTo(whole.accuracy, 12);
    for (const [k, t] of model.buffers) expect(t.data).toEqual(before.get(k));
    const trainMode = evaluate(model, data, { batchSize: 23, normalize: CIFAR10_NORMALIZATION, bnMode: 'train' });
    expect(Math.abs(trainMode.loss - r.loss)).toBeGreaterThan(1e-3);
  });

  it('refuses an empty set', () => {
    const empty = new ImageDataset({ name: 'empty', pixels: new Float32Array(0), labels: new Int32Array(0), channels: 3, height: 4, width: 4, classes: 10 });
    expect(() => evaluate(resnet({ depth: 8, width: 2 }), empty)).toThrow(/no samples/);
  });
});
