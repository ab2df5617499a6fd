import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { study } from '../../src/api/study.js';
import { loadTrainState } from '../../src/io/index.js';
import { cifarRecords } from '../data/cifar-files.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hesse-study-cifar-'));
  // CIFAR-10 in its official layout: five training batches of 20 records and a test batch of 40
  const ten = join(root, 'c10', 'cifar-10-batches-bin');
  await mkdir(ten, { recursive: true });
  for (let f = 0; f < 5; f++) await writeFile(join(ten, `data_batch_${f + 1}.bin`), cifarRecords(f, Array.from({ length: 20 }, (_, i) => [(i * 3 + f) % 10])));
  await writeFile(join(ten, 'test_batch.bin'), cifarRecords(5, Array.from({ length: 40 }, (_, i) => [i % 10])));
  // CIFAR-100: (coarse, fine) label pairs
  const hundred = join(root, 'c100', 'cifar-100-binary');
  await mkdir(hundred, { recursive: true });
  await writeFile(join(hundred, 'train.bin'), cifarRecords(0, Array.from({ length: 40 }, (_, i) => [i % 20, (i * 7) % 100])));
  await writeFile(join(hundred, 'test.bin'), cifarRecords(1, Array.from({ length: 20 }, (_, i) => [i % 20, (i * 11) % 100])));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the study on CIFAR-format files', () => {
  it('the laptop preset on CIFAR-10 files, its grid shrunk: 32x32 images, subsets of both splits, every run analysed', async () => {
    const out = await study({
      preset: 'laptop',
      data: `cifar10:${join(root, 'c10')}`,
      trainSamples: 64,
      testSamples: 32,
      depths: [8],
      width: 2,
      variants: ['bn-res', 'nobn-stage3'],
      epochs: 2,
      batchSize: 32,
      hessianBatch: 16,
      traceProducts: 4,
      densitySteps: 4,
      out: join(root, 'laptop'),
      report: false,
    });
    expect(out.completed).toBe(true);
    expect(out.settings).toMatchObject({ preset: 'laptop', imageSize: null, trainSamples: 64, testSamples: 32, augment: true, lr: 0.1, analyzeEvery: 1 });
    expect(out.results!.inputs.data.description).toMatch(/^CIFAR-10 from .*c10.*: 64 training and 32 test images of 3x32x32, 10 classes$/);
    expect(out.results!.inputs.samples).toEqual({ train: 64, test: 32, hessian: 16 });
    const runs = out.section!.runs;
    expect(runs.map((r) => [r.id, r.status, r.checkpoints.map((c) => c.epoch)])).toEqual([
      ['resnet8-bn-res-seed0', 'done', [1, 2]],
      ['resnet8-nobn-stage3-seed0', 'done', [1, 2]],
    ]);
    // two epochs of ceil(64 / 32) steps each: the history of a real training on these files
    for (const r of runs) {
      expect(r.epochs).toHaveLength(2);
      expect(r.checkpoints[1]!.hessianSamples).toBe(16);
      expect(Number.isFinite(r.checkpoints[1]!.topEigenvalues[0])).toBe(true);
    }
  });

  it('CIFAR-100: a hundred outputs, and the Hessian of the whole training set', async () => {
    const dir = join(root, 'c100-study');
    const out = await study({
      data: `cifar100:${join(root, 'c100')}`,
      imageSize: 8,
      depths: [8],
      width: 2,
      variants: ['bn-res'],
      epochs: 1,
      batchSize: 20,
      hessianBatch: null,
      hessianDatasetBatch: 16,
      traceProducts: 4,
      densitySteps: 4,
      out: dir,
      report: false,
    });
    expect(out.completed).toBe(true);
    const run = out.section!.runs[0]!;
    expect(run.checkpoints[0]!.hessianSamples).toBe(40);
    const { model } = await loadTrainState(join(dir, 'runs', run.id, 'checkpoint.safetensors'));
    expect(model.param('fc.weight').shape).toEqual([100, 8]);
    expect(out.results!.options).toMatchObject({ hessianBatch: null, data: `cifar100:${join(root, 'c100')}` });
  });
});
