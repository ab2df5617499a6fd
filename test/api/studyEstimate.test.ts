import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { study } from '../../src/api/study.js';
import { estimateWorkers, spread, studyCost, type StudyEstimate, type Throughput } from '../../src/api/studyEstimate.js';
import { resolveStudySettings, runsOf } from '../../src/api/studySettings.js';
import { OptionError } from '../../src/errors.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hesse-study-estimate-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

// hand-made throughput (seconds per image), ResNet-20 three times as slow as ResNet-8
const T8: Throughput = { trainPerImage: 0.001, evalPerImage: 0.0002, productPerImage: 0.0005 };
const T20: Throughput = { trainPerImage: 0.003, evalPerImage: 0.0006, productPerImage: 0.0015 };
const measured = new Map([
  [8, T8],
  [20, T20],
]);
// the smoke recipe: 4 epochs, checkpoints after 2 and 4, a Hessian batch of 32, products per
// checkpoint 20 (Lanczos) + 20 (its cold check) + 10 (trace) + 10 x 1 (density) = 60
const settings = resolveStudySettings({ preset: 'smoke', depths: [8, 14, 20], variants: ['bn-res'], seeds: [0, 1] });
const runs = runsOf(settings);
const images = { train: 100, test: 50 };
// one run, by hand: 4 x (100 train + 50 test images) + 2 checkpoints x 32 images x (60 products + 3 passes)
// ResNet-8: 4 x (0.1 + 0.01) + 64 x (0.03 + 0.003) = 0.44 + 2.112; ResNet-14 halfway in every figure, so twice that, ResNet-20 three times
const RUN8 = 2.552;
const RUN14 = 5.104;
const RUN20 = 7.656;
const close = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThan(1e-12 * want);

describe('the estimated cost of a study, from throughput figures', () => {
  it('compute is the sum of the runs; the wall time spreads them over the workers and is never below the longest run', () => {
    expect(runs.map((r) => r.depth)).toEqual([8, 8, 14, 14, 20, 20]);
    const total = 2 * (RUN8 + RUN14 + RUN20);
    const on = (workers: number) => studyCost(settings, images, runs, workers, measured);
    const one = on(1);
    close(one.computeHours * 3600, total);
    close(one.wallHours * 3600, total);
    expect(one.runs).toBe(6);
    expect(one.workers).toBe(1);
    // longest first onto the least loaded worker: 2 and 3 workers share the runs evenly
    close(on(2).wallHours * 3600, total / 2);
    close(on(3).wallHours * 3600, total / 3);
    // from 4 workers on the two ResNet-20 runs decide it, however many workers there are
    for (const w of [4, 6, 100]) {
      const e = on(w);
      close(e.computeHours * 3600, total);
      close(e.wallHours * 3600, RUN20);
      expect(e.workers).toBe(w);
    }
    expect(one.basis).toBe(
      'measured here: ResNet-8 at 1000 training images/s and 2000 image-products/s, ResNet-20 at 333 and 667; 6 runs x 4 epochs, 2 checkpoints of about 60 products on 32 images',
    );
  });

  it('the Hessian on fewer images than its batch, or on the whole training set; one depth needs one figure', () => {
    const eight = resolveStudySettings({ preset: 'smoke', depths: [8], variants: ['bn-res'] });
    const single = new Map([[8, T8]]);
    // 20 training images: the Hessian batch of 32 is cut to 20: 4 x (0.02 + 0.01) + 2 x 20 x 0.033
    close(studyCost(eight, { train: 20, test: 50 }, runsOf(eight), 1, single).computeHours * 3600, 0.12 + 1.32);
    // the whole training set: 2 x 100 x 0.033
    const full = resolveStudySettings({ preset: 'smoke', depths: [8], variants: ['bn-res'], hessianBatch: null });
    close(studyCost(full, images, runsOf(full), 1, single).computeHours * 3600, 0.44 + 6.6);
    // without the cold check: 40 products a checkpoint, 4 x 0.11 + 64 x (0.02 + 0.003)
    const noCold = resolveStudySettings({ preset: 'smoke', depths: [8], variants: ['bn-res'], coldStartCheck: false });
    close(studyCost(noCold, images, runsOf(noCold), 1, single).computeHours * 3600, 0.44 + 1.472);
  });

  it('refuses throughput figures that lack the deepest depth, naming it', () => {
    expect(() => studyCost(settings, images, runs, 1, new Map([[8, T8]]))).toThrow(OptionError);
    expect(() => studyCost(settings, images, runs, 1, new Map([[8, T8]]))).toThrow(/no throughput figures for ResNet-20; .* \(8 and 20\)/);
  });

  it('longest run first onto the least loaded worker', () => {
    expect(spread([3, 3, 2, 2, 2], 1)).toBe(12);
    // 3 | 3, then 2 onto each, then the last 2: 7 (the rule, not the best split, 6)
    expect(spread([2, 3, 2, 3, 2], 2)).toBe(7);
    expect(spread([1, 5, 1], 10)).toBe(5);
  });

  it('the workers: local processes or the cluster slots, at least one and at most the runs to do', () => {
    expect(estimateWorkers(16, { parallel: 1 })).toBe(1);
    expect(estimateWorkers(16, { parallel: 4 })).toBe(4);
    expect(estimateWorkers(3, { parallel: 8 })).toBe(3);
    // a cluster: its slots, whatever parallel says; none seen yet counts as one
    expect(estimateWorkers(96, { parallel: 1, clusterSlots: 100 })).toBe(96);
    expect(estimateWorkers(96, { parallel: 1, clusterSlots: 12 })).toBe(12);
    expect(estimateWorkers(96, { parallel: 1, clusterSlots: 0 })).toBe(1);
  });
});

describe('study(): the estimate before the runs', () => {
  // three runs of the same depth cost the same, whatever this machine measures
  const small = { preset: 'smoke', depths: [8], variants: ['bn-res', 'nobn-res', 'bn-nores'] };

  it('is spread over the worker processes asked for, at most one per run; declined, nothing is written', async () => {
    const seen: StudyEstimate[] = [];
    for (const parallel of [undefined, 2, 8]) {
      const out = join(root, `declined-${parallel ?? 1}`);
      const r = await study({
        ...small,
        out,
        ...(parallel !== undefined ? { parallel } : {}),
        onEstimate: (e) => {
          seen.push(e);
          return false;
        },
      });
      expect(r.started).toBe(false);
      expect(r.completed).toBe(false);
      expect(r.estimate).toBe(seen.at(-1));
      expect(r.section).toBeUndefined();
      expect(existsSync(out)).toBe(false);
    }
    expect(seen.map((e) => [e.runs, e.workers])).toEqual([
      [3, 1],
      [3, 2],
      [3, 3],
    ]);
    const [one, two, three] = seen as [StudyEstimate, StudyEstimate, StudyEstimate];
    expect(one.computeHours).toBeGreaterThan(0);
    const rel = (a: number, b: number) => Math.abs(a - b) / b;
    expect(rel(one.wallHours, one.computeHours)).toBeLessThan(1e-12);
    // three equal runs on two workers: two after another on one of them
    expect(rel(two.wallHours, (2 / 3) * two.computeHours)).toBeLessThan(1e-12);
    expect(rel(three.wallHours, three.computeHours / 3)).toBeLessThan(1e-12);
  });
});
