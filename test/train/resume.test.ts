import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CIFAR10_NORMALIZATION } from '../../src/data/index.js';
import { FileFormatError, OptionError } from '../../src/errors.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { checkpointFile, loadTrainState } from '../../src/io/trainCheckpoint.js';
import { resnet, type Model } from '../../src/nn/index.js';
import { train, type EpochRecord, type TrainOptions } from '../../src/train/index.js';
import { pooledSynthetic } from './smallImages.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-train-'));
const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

// augmentation, normalisation, an uneven last batch, warm-up, a decay, Nesterov and weight decay:
// every source of state that a resumed run could get wrong
const trainSet = pooledSynthetic(44, 'train', 2);
const testSet = pooledSynthetic(20, 'test', 2);
const options = (): TrainOptions => ({
  trainSet,
  testSet,
  epochs: 3,
  batchSize: 16,
  lr: 0.08,
  nesterov: true,
  weightDecay: 1e-3,
  schedule: { kind: 'multistep', milestones: [1, 2], gamma: 0.5 },
  warmup: { steps: 2 },
  seed: 11,
  augment: true,
  normalize: CIFAR10_NORMALIZATION,
});
const fresh = () => resnet({ depth: 8, width: 2, classes: 10, seed: 7 });
const deterministic = (h: EpochRecord[]) => h.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);

function expectSameModel(a: Model, b: Model): void {
  expect(sameBits(a.theta, b.theta)).toBe(true);
  expect([...a.buffers.keys()]).toEqual([...b.buffers.keys()]);
  for (const [k, t] of a.buffers) expect(sameBits(t.data, b.buffers.get(k)!.data), k).toBe(true);
  expect(a.batchesTracked).toBe(b.batchesTracked);
}

describe('resume from a checkpoint', () => {
  let whole: { model: Model; history: EpochRecord[]; momentum: Float32Array } | undefined;
  async function uninterrupted() {
    if (!whole) {
      const model = fresh();
      const r = await train(model, options());
      whole = { model, history: r.history, momentum: r.state.optimizer.momentumBuffer! };
    }
    return whole;
  }

  it('2 epochs, a checkpoint file, a fresh model, 1 more epoch: bit-identical to 3 epochs in one go', async () => {
    const ref = await uninterrupted();
    const path = join(dir, 'epochs.safetensors');
    // stop once epoch 2 (0-based: 1) is done and checkpointed; the abort lands before epoch 3's first step
    const controller = new AbortController();
    const saves: number[] = [];
    const file = checkpointFile(path);
    const two = await train(fresh(), {
      ...options(),
      checkpoint: { save: async (s) => (saves.push(s.epoch), file.save(s)) },
      onEpoch: (r) => r.epoch === 1 && controller.abort(),
      signal: controller.signal,
    });
    expect(two.completed).toBe(false);
    expect(saves).toEqual([1, 2]);

    const { model, resume } = await loadTrainState(path);
    expect(resume.epoch).toBe(2);
    expect(resume.step).toBe(0);
    expect(resume.history.length).toBe(2);
    const r = await train(model, { ...options(), resumeFrom: resume });
    expect(r.completed).toBe(true);
    expectSameModel(model, ref.model);
    expect(sameBits(r.state.optimizer.momentumBuffer!, ref.momentum)).toBe(true);
    expect(deterministic(r.history)).toEqual(deterministic(ref.history));
  }, 30_000);

  it('stopped mid-epoch by the signal, saved and resumed: bit-identical too', async () => {
    const ref = await uninterrupted();
    const path = join(dir, 'mid.safetensors');
    const controller = new AbortController();
    const stopped = await train(fresh(), {
      ...options(),
      checkpoint: checkpointFile(path),
      signal: controller.signal,
      onProgress: (p) => {
        if (p.epoch === 1 && p.step === 1) controller.abort();
      },
    });
    expect([stopped.state.epoch, stopped.state.step]).toEqual([1, 2]);
    const { model, resume } = await loadTrainState(path);
    expect([resume.epoch, resume.step]).toEqual([1, 2]);
    const r = await train(model, { ...options(), resumeFrom: resume });
    expectSameModel(model, ref.model);
    expect(deterministic(r.history)).toEqual(deterministic(ref.history));
  }, 30_000);

  it('refuses to resume with a different seed or batch size, which would change the data order', async () => {
    const path = join(dir, 'one.safetensors');
    await train(fresh(), { ...options(), epochs: 1, checkpoint: checkpointFile(path) });
    const { model, resume } = await loadTrainState(path);
    await expect(train(model, { ...options(), seed: 12, resumeFrom: resume })).rejects.toThrow(OptionError);
    await expect(train(model, { ...options(), batchSize: 8, resumeFrom: resume })).rejects.toThrow(/batch size 16 but 8 was given/);
  }, 30_000);

  it('the checkpoint also loads as a plain model, with its input normalisation in the metadata', async () => {
    const path = join(dir, 'one.safetensors');
    await train(fresh(), { ...options(), epochs: 1, checkpoint: checkpointFile(path) });
    const { model, metadata } = await loadModel(path, { ignore: (k) => k.startsWith('optimizer.') });
    expect(model.description).toEqual(fresh().description);
    expect(JSON.parse(metadata['hesse.normalization']!)).toEqual(CIFAR10_NORMALIZATION);
    const { resume } = await loadTrainState(path);
    expect(resume.optimizer.momentumBuffer!.length).toBe(model.size);
    expect(resume.config.seed).toBe(11);
  }, 30_000);

  it('a plain model file is not a training checkpoint', async () => {
    const path = join(dir, 'plain.safetensors');
    await saveModel(path, fresh());
    await expect(loadTrainState(path)).rejects.toThrow(FileFormatError);
    await expect(loadTrainState(path)).rejects.toThrow(/no training state/);
  });
});
