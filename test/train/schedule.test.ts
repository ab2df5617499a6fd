import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { lrSchedule, PYHESSIAN_RECIPE, type ScheduleSpec, type WarmupSpec } from '../../src/train/index.js';
import { pyhessianMilestones } from '../../src/train/index.js';

interface ScheduleCase {
  name: string;
  lr: number;
  epochs: number;
  schedule: ScheduleSpec;
  warmup?: WarmupSpec;
  per: 'epoch' | 'step';
  rates: number[];
}

/** torch.optim.lr_scheduler rates written by fixtures/make_schedule_fixture.py */
const fixture: { cases: ScheduleCase[] } = JSON.parse(readFileSync(new URL('./fixtures/schedule.json', import.meta.url), 'utf8'));

describe('learning-rate schedules against torch.optim.lr_scheduler', () => {
  for (const c of fixture.cases) {
    it(c.name, () => {
      const stepsPerEpoch = c.per === 'epoch' ? 5 : c.rates.length;
      const lr = lrSchedule({ lr: c.lr, epochs: c.epochs, stepsPerEpoch, schedule: c.schedule, ...(c.warmup ? { warmup: c.warmup } : {}) });
      c.rates.forEach((want, i) => {
        const [epoch, steps] = c.per === 'epoch' ? [i, [0, 2, 4]] : [0, [i]];
        for (const step of steps) {
          const got = lr(epoch, step);
          if (Math.abs(got - want) > 1e-12 * c.lr) throw new Error(`${c.name}: epoch ${epoch} step ${step}: ${got}, torch ${want}`);
        }
      });
    });
  }
});

describe('learning-rate schedules', () => {
  it("PyHessian's recipe: 0.1 until epoch 80, 0.01 until 120, then 0.001", () => {
    expect(PYHESSIAN_RECIPE.schedule).toEqual({ kind: 'multistep', milestones: [80, 120], gamma: 0.1 });
    const lr = lrSchedule({ lr: 0.1, epochs: 180, stepsPerEpoch: 391, schedule: PYHESSIAN_RECIPE.schedule });
    expect(lr(0, 0)).toBe(0.1);
    expect(lr(79, 390)).toBe(0.1);
    expect(lr(80, 0)).toBeCloseTo(0.01, 15);
    expect(lr(119, 390)).toBeCloseTo(0.01, 15);
    expect(lr(120, 0)).toBeCloseTo(0.001, 15);
    expect(lr(179, 390)).toBeCloseTo(0.001, 15);
    expect(pyhessianMilestones(180)).toEqual([80, 120]);
    expect(pyhessianMilestones(9)).toEqual([4, 6]);
  });

  it('warm-up over whole epochs ramps per step and then hands over to the decay', () => {
    const lr = lrSchedule({ lr: 0.2, epochs: 10, stepsPerEpoch: 4, schedule: { kind: 'multistep', milestones: [5] }, warmup: { epochs: 2 } });
    const ramp = [0, 1, 2, 3, 4, 5, 6, 7].map((k) => lr(Math.floor(k / 4), k % 4));
    ramp.forEach((v, k) => expect(v).toBeCloseTo((0.2 * (k + 1)) / 8, 15));
    expect(lr(2, 0)).toBe(0.2);
    expect(lr(5, 0)).toBeCloseTo(0.02, 15);
  });

  it('refuses bad settings with typed errors', () => {
    const base = { lr: 0.1, epochs: 10, stepsPerEpoch: 3 };
    expect(() => lrSchedule({ ...base, lr: 0 })).toThrow(OptionError);
    expect(() => lrSchedule({ ...base, schedule: { kind: 'multistep', milestones: [2.5] } })).toThrow(/milestones/);
    expect(() => lrSchedule({ ...base, schedule: { kind: 'cosine', minLr: 1 } })).toThrow(/minimum/);
    expect(() => lrSchedule({ ...base, warmup: { steps: 0 } })).toThrow(/warm-up/);
    expect(() => lrSchedule({ ...base, schedule: { kind: 'linear' } as unknown as ScheduleSpec })).toThrow(/unknown learning-rate schedule/);
    expect(() => lrSchedule(base)(-1, 0)).toThrow(OptionError);
  });
});
