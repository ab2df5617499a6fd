import { mkdtempSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { trainRun } from '../../src/api/trainRun.js';
import { FileFormatError, OptionError } from '../../src/errors.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { checkpointFile, loadTrainState } from '../../src/io/trainCheckpoint.js';
import { mlp } from '../../src/nn/index.js';
import { train, type TrainOptions } from '../../src/train/index.js';
import { rejection } from '../data/rejection.js';
import { pooledSynthetic } from '../train/smallImages.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-train-ckpt-'));
const trainSet = pooledSynthetic(24, 'train', 8);
const options = (): TrainOptions => ({ trainSet, epochs: 3, batchSize: 8, lr: 0.05, augment: false, seed: 3 });
const fresh = () => mlp({ sizes: [3 * 4 * 4, 6, 10], seed: 1 });

/** A checkpoint written by a real run after one epoch, and its training-state JSON. */
let good: string;
let state: Record<string, unknown>;
beforeAll(async () => {
  good = join(dir, 'good.safetensors');
  const controller = new AbortController();
  await train(fresh(), { ...options(), checkpoint: checkpointFile(good), signal: controller.signal, onEpoch: () => controller.abort() });
  state = JSON.parse((await readSafetensors(good)).metadata['hesse.train']!) as Record<string, unknown>;
});

/** The good checkpoint with its training state edited by `damage`. */
async function damaged(name: string, damage: (s: Record<string, unknown>) => unknown): Promise<string> {
  const file = await readSafetensors(good);
  const copy = structuredClone(state);
  const returned = damage(copy);
  const edited = returned === undefined ? copy : returned;
  const path = join(dir, `${name.replace(/\W+/g, '-')}.safetensors`);
  await writeSafetensors(path, Object.fromEntries(file.tensors), { ...file.metadata, 'hesse.train': JSON.stringify(edited) });
  return path;
}

describe('a training checkpoint that cannot be resumed', () => {
  it('the good checkpoint it is cut from loads, after one epoch', async () => {
    const { resume } = await loadTrainState(good);
    expect([resume.epoch, resume.step, resume.history.length]).toEqual([1, 0, 1]);
    expect(resume.partial).toEqual({ lossSum: 0, hits: 0, seen: 0, seconds: 0 });
  });

  const cases: [string, (s: Record<string, unknown>) => unknown, RegExp][] = [
    ['partial: null (it would resume with no epoch sums)', (s) => void (s.partial = null), /partial must be an object, got null/],
    ['config: null', (s) => void (s.config = null), /config must be an object, got null/],
    ['history: null', (s) => void (s.history = null), /history must be a list of epoch records, got null/],
    ['a history entry that is a string', (s) => void (s.history = ['abc']), /history\[0\] must be an object, got "abc"/],
    ['a history entry with a garbage loss', (s) => void ((s.history as Record<string, unknown>[])[0]!.trainLoss = 'abc'), /history\[0\]\.trainLoss must be a finite number ≥ 0, got "abc"/],
    ['a history entry with an accuracy of 7', (s) => void ((s.history as Record<string, unknown>[])[0]!.trainAccuracy = 7), /history\[0\]\.trainAccuracy must be a fraction in \[0, 1\], got 7/],
    ['a history entry numbered wrongly', (s) => void ((s.history as Record<string, unknown>[])[0]!.epoch = 4), /history\[0\]\.epoch must be 0/],
    ['fewer history entries than epochs', (s) => void (s.history = []), /history must be 1 epoch records .*got "0 records"/],
    ['more hits than samples', (s) => void (s.partial = { lossSum: 1, hits: 5, seen: 4, seconds: 1 }), /partial\.hits must be at most partial\.seen \(4\), got 5/],
    ['a fractional epoch', (s) => void (s.epoch = 1.5), /epoch must be an integer ≥ 0, got 1\.5/],
    ['a negative optimiser step count', (s) => void (s.optimizerSteps = -1), /optimizer\.steps must be an integer ≥ 0, got -1/],
    ['a zero learning-rate scale', (s) => void (s.lrScale = 0), /lrScale must be a factor in \(0, 1\], got 0/],
    ['milestones that are not a list', (s) => void ((s.config as Record<string, unknown>).schedule = { kind: 'multistep', milestones: 5 }), /config\.schedule\.milestones must be a list of epochs, got 5/],
    ['a negative milestone', (s) => void ((s.config as Record<string, unknown>).schedule = { kind: 'multistep', milestones: [-2] }), /config: .*milestones must be positive integers .*-2/],
    ['a normalisation of the wrong shape', (s) => void ((s.config as Record<string, unknown>).normalize = { mean: 1 }), /config\.normalize: normalisation mean 1/],
    ['a batch size of zero', (s) => void ((s.config as Record<string, unknown>).batchSize = 0), /config\.batchSize must be an integer ≥ 1, got 0/],
    ['the whole state null', () => null, /'hesse\.train' metadata is null, not an object/],
  ];
  for (const [what, damage, problem] of cases) {
    it(`refuses ${what}, naming the file and the field`, async () => {
      const path = await damaged(what, damage);
      const err = await rejection(loadTrainState(path));
      expect(err).toBeInstanceOf(FileFormatError);
      expect(err.message).toContain(path);
      expect(err.message).toContain('hesse.train');
      expect(err.message).toMatch(problem);
      expect(err.message.split('\n')).toHaveLength(1);
    });
  }

  it('train --resume on a damaged checkpoint fails before any step runs, and leaves the run folder as it was', async () => {
    const out = join(dir, 'run');
    const path = await damaged('garbage-history-for-run', (s) => void ((s.history as Record<string, unknown>[])[0]!.seconds = 'soon'));
    const before = readFileSync(path);
    let steps = 0;
    const err = await rejection(trainRun(undefined, { ...options(), normalize: null, out, resume: path, onProgress: () => steps++ }));
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toMatch(/history\[0\]\.seconds must be a finite number ≥ 0, got "soon"/);
    expect(steps).toBe(0);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(await readdir(out)).toEqual([]);
  });

  it('train() checks a resume state given in code the same way, and its epoch sums against its position', async () => {
    const { model, resume } = await loadTrainState(good);
    await expect(train(model, { ...options(), resumeFrom: { ...resume, partial: null as never } })).rejects.toThrow(/partial must be an object, got null/);
    const err = await rejection(train(model, { ...options(), resumeFrom: { ...resume, partial: { lossSum: 2, hits: 1, seen: 3, seconds: 1 } } }));
    expect(err).toBeInstanceOf(OptionError);
    expect(err.message).toMatch(/epoch sums count 3 samples, but 0 steps of 8 were run/);
  });
});
