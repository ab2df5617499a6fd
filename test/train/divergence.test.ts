import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HesseError } from '../../src/errors.js';
import { checkpointFile, loadTrainState } from '../../src/io/trainCheckpoint.js';
import { resnet } from '../../src/nn/index.js';
import { DivergenceError, train, type RetryNotice, type StepProgress, type TrainOptions } from '../../src/train/index.js';
import { pooledSynthetic } from './smallImages.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-diverge-'));
const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const trainSet = pooledSynthetic(48, 'train');
// two sane epochs, then the "decay" multiplies the rate by a million: a network without BN blows up
const options = (): TrainOptions => ({
  trainSet,
  epochs: 4,
  batchSize: 16,
  lr: 0.02,
  schedule: { kind: 'multistep', milestones: [2], gamma: 1e6 },
  augment: false,
  seed: 3,
});
const noBn = () => resnet({ depth: 8, width: 4, classes: 10, batchNorm: false, seed: 5 });

describe('divergence', () => {
  it('a huge learning rate raises DivergenceError naming the epoch and step; the last good checkpoint stays on disk', async () => {
    const path = join(dir, 'run.safetensors');
    const model = noBn();
    let goodTheta: Float32Array | undefined;
    const steps: StepProgress[] = [];
    const saved: number[] = [];
    const file = checkpointFile(path);
    const err = await train(model, {
      ...options(),
      checkpoint: { save: async (s) => (saved.push(s.epoch), file.save(s)) },
      onEpoch: () => (goodTheta = model.theta.slice()),
      onProgress: (p) => steps.push(p),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DivergenceError);
    expect(err).toBeInstanceOf(HesseError);
    const d = err as DivergenceError;
    expect(d.epoch).toBe(2);
    expect(d.stepsPerEpoch).toBe(3);
    // every step of the diverged epoch before the reported one had a finite loss and was reported
    const inEpoch = steps.filter((s) => s.epoch === 2);
    expect(inEpoch.map((s) => s.step)).toEqual(Array.from({ length: d.step }, (_, i) => i));
    expect(inEpoch.every((s) => Number.isFinite(s.loss))).toBe(true);
    expect(d.lr).toBeCloseTo(0.02 * 1e6, 6);
    expect(d.message).toContain(`epoch 3, step ${d.step + 1} of 3`);
    // it names the rate that diverged and what went wrong; a library error names no CLI flag
    expect(d.message).toContain(`(learning rate ${d.lr})`);
    expect(d.message).toContain(d.detail);
    expect(d.detail).toMatch(/not finite|Infinity|NaN/);
    expect(d.message).not.toMatch(/--/);
    // the remedies are named as the reader calls them: a command gives its own names for them
    const named = d.describe({ lr: 'RATE-NAME', warmup: 'WARMUP-NAME' });
    expect(named).toContain('RATE-NAME');
    expect(named).toContain('WARMUP-NAME');

    expect(saved).toEqual([1, 2]);
    const { model: onDisk, resume } = await loadTrainState(path);
    expect(resume.epoch).toBe(2);
    expect(resume.history.length).toBe(2);
    expect(sameBits(onDisk.theta, goodTheta!)).toBe(true);
    // the model in memory is put back to that last good state too
    expect(sameBits(model.theta, goodTheta!)).toBe(true);
  }, 30_000);

  it('with retries, the diverged epoch is rerun from its start at a lower rate and training finishes', async () => {
    const model = noBn();
    const retries: RetryNotice[] = [];
    const r = await train(model, { ...options(), retryOnDivergence: { times: 3, lrFactor: 1e-6 }, onRetry: (n) => retries.push(n) });
    expect(r.completed).toBe(true);
    expect(retries.length).toBe(1);
    expect(retries[0]!.error.epoch).toBe(2);
    expect(retries[0]!.lrScale).toBe(1e-6);
    expect(r.state.lrScale).toBe(1e-6);
    expect(r.history.map((h) => h.epoch)).toEqual([0, 1, 2, 3]);
    expect(r.history[2]!.lr).toBeCloseTo(0.02, 10);
    expect(r.history.every((h) => Number.isFinite(h.trainLoss))).toBe(true);
    expect(model.theta.every(Number.isFinite)).toBe(true);
  }, 30_000);

  it('without retries left, the error comes out after the last try', async () => {
    const retries: RetryNotice[] = [];
    const attempt = train(noBn(), { ...options(), retryOnDivergence: { times: 1, lrFactor: 0.9 }, onRetry: (n) => retries.push(n) });
    await expect(attempt).rejects.toThrow(DivergenceError);
    expect(retries.length).toBe(1);
  }, 30_000);
});
