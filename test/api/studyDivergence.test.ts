import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { study, type StudyOptions } from '../../src/api/study.js';
import { readRunLog, runFolder } from '../../src/api/studyRunFiles.js';
import type { StudyRunResult } from '../../src/report/index.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hesse-study-div-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

// ResNet-8 on the smoke data at a learning rate of 1000: it diverges in its first epoch. How many
// halvings it then needs depends on the rounding of the CPU's kernels (at these rates training is
// chaotic: 2 on an AVX-512 machine, 8 on an AVX2-only one), so the run may halve up to 10 times, to
// under 1, and the test holds it to what the record must say whatever that number.
const recipe = (out: string, more: Partial<StudyOptions> = {}): StudyOptions => ({ preset: 'smoke', depths: [8], variants: ['bn-res'], epochs: 2, lr: 1000, halvings: 10, out: join(root, out), report: false, ...more });
const numbers = (r: StudyRunResult) => ({ needed: r.needed, epochs: r.epochs.map(({ seconds: _s, ...e }) => e), checkpoints: r.checkpoints.map(({ ms: _m, ...c }) => c) });

describe('a run that diverges', () => {
  it('starts again with a warm-up, then halves its rate, and the results say what it needed', async () => {
    const out = await study(recipe('warmed'));
    const r = out.section!.runs[0]!;
    expect(r.status).toBe('done');
    expect(r.needed.warmup).toBe(true);
    // the base recipe diverged once, the warm-up recipe once per halving: the rate ended at 2^-halvings
    const h = r.needed.halvings;
    expect(h).toBeGreaterThanOrEqual(1);
    expect(h).toBeLessThanOrEqual(10);
    expect(r.needed.divergences).toHaveLength(1 + h);
    expect(r.needed.divergences[0]).toMatch(/training diverged at epoch 1, step \d+ of 8 \(learning rate 1000\)/);
    expect(r.needed.lrScale).toBe(0.5 ** h);
    // the second epoch ran at the scheduled rate times that scale: PyHessian's milestones 80 and
    // 120 of 180 epochs both round to epoch 1 of 2, so the schedule has decayed it by 0.1 twice
    expect(r.epochs[1]!.lr).toBeCloseTo(1000 * 0.01 * 0.5 ** h, 9);
    expect(r.checkpoints.map((c) => c.epoch)).toEqual([1, 2]);
    expect(out.section!.table[0]!.needed).toMatch(new RegExp(`warm-up in 1 of 1 seed; learning rate halved \\(up to ${h}x\\) in 1 of 1`));
    expect(r.sessions.map((s) => s.from)).toEqual([{ epoch: 0, step: 0 }, { epoch: 0, step: 0 }]);
  });

  it('stopped during its warm-up restart and run again: the numbers of the uninterrupted run', async () => {
    const stop = new AbortController();
    let restarted = false;
    const first = await study(
      recipe('stopped', {
        signal: stop.signal,
        onEvent: (e) => {
          if (e.type === 'divergence' && /fresh start/.test(e.next)) restarted = true;
          if (restarted && e.type === 'step' && e.step === 2) stop.abort();
        },
      }),
    );
    expect(first.completed).toBe(false);
    expect((await readRunLog(runFolder(join(root, 'stopped'), 'resnet8-bn-res-seed0'))).attempt).toBe('warmup');
    const again = await study(recipe('stopped'));
    const ref = await study(recipe('warmed'));
    expect(again.section!.runs.map(numbers)).toEqual(ref.section!.runs.map(numbers));
  });

  it('diverged for good: marked so with the divergence, kept out of the numbers, and not run again', async () => {
    const out = await study(recipe('lost', { lr: 3000, halvings: 1 }));
    const r = out.section!.runs[0]!;
    expect(r.status).toBe('diverged');
    expect(r.failure).toMatch(/training diverged/);
    expect(r.needed).toMatchObject({ warmup: true, lrScale: 0.5, halvings: 1 });
    expect(r.needed.divergences).toHaveLength(3);
    expect(out.section!.table[0]).toMatchObject({ seeds: 1, finished: 0, diverged: 1, topEigenvalue: null });
    expect(out.completed).toBe(true);
    const again = await study(recipe('lost', { lr: 3000, halvings: 1 }));
    expect(again.section!.runs[0]!.sessions).toEqual(r.sessions);
  });
});
