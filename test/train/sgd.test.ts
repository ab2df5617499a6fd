import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OptionError, ShapeError } from '../../src/errors.js';
import { Sgd } from '../../src/train/index.js';

interface SgdCase {
  name: string;
  options: { momentum: number; dampening: number; weight_decay: number; nesterov: boolean };
  theta0: number[];
  steps: { lr: number; grad: number[]; theta: number[] }[];
}

/** torch.optim.SGD trajectories written by fixtures/make_sgd_fixture.py */
const fixture: { cases: SgdCase[] } = JSON.parse(readFileSync(new URL('./fixtures/sgd.json', import.meta.url), 'utf8'));

function sgdFor(c: SgdCase): Sgd {
  const o = c.options;
  return new Sgd(c.theta0.length, { momentum: o.momentum, dampening: o.dampening, weightDecay: o.weight_decay, nesterov: o.nesterov });
}

function expectClose(actual: Float32Array, expected: number[], what: string): void {
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!));
    if (err > 2 ** -23) throw new Error(`${what}: index ${i} is ${actual[i]}, PyTorch has ${expected[i]} (error ${err})`);
  }
}

describe('SGD against torch.optim.SGD', () => {
  it('the fixture covers every option', () => {
    const opts = fixture.cases.map((c) => c.options);
    expect(opts.some((o) => o.momentum === 0 && o.weight_decay > 0)).toBe(true);
    expect(opts.some((o) => o.momentum > 0 && !o.nesterov && o.dampening === 0)).toBe(true);
    expect(opts.some((o) => o.nesterov && o.weight_decay > 0)).toBe(true);
    expect(opts.some((o) => o.dampening > 0)).toBe(true);
  });

  for (const c of fixture.cases) {
    it(`${c.name}: every step's parameters agree within one float32 ulp`, () => {
      const sgd = sgdFor(c);
      const theta = Float32Array.from(c.theta0);
      c.steps.forEach((s, k) => {
        sgd.step(theta, Float32Array.from(s.grad), s.lr);
        expectClose(theta, s.theta, `${c.name}, step ${k + 1}`);
      });
      expect(sgd.steps).toBe(c.steps.length);
    });
  }

  it('the momentum buffer survives export and import: a restarted optimiser continues bit for bit', () => {
    const c = fixture.cases.find((x) => x.name === 'nesterov + weight decay')!;
    const whole = sgdFor(c);
    const a = Float32Array.from(c.theta0);
    c.steps.forEach((s) => whole.step(a, Float32Array.from(s.grad), s.lr));

    const first = sgdFor(c);
    const b = Float32Array.from(c.theta0);
    c.steps.slice(0, 3).forEach((s) => first.step(b, Float32Array.from(s.grad), s.lr));
    const saved = first.state();
    first.step(b.slice(), new Float32Array(b.length).fill(7), 1); // must not leak into the saved copy
    const second = sgdFor(c);
    second.loadState(saved);
    c.steps.slice(3).forEach((s) => second.step(b, Float32Array.from(s.grad), s.lr));
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
    expect(second.steps).toBe(c.steps.length);
  });

  it('the first momentum step uses the gradient itself, not (1 - dampening) times it', () => {
    const sgd = new Sgd(1, { momentum: 0.9, dampening: 0.5 });
    const theta = Float32Array.of(1);
    sgd.step(theta, Float32Array.of(2), 0.25);
    expect(theta[0]).toBe(0.5);
    expect(sgd.state().momentumBuffer![0]).toBe(2);
  });

  it('refuses impossible settings and mismatched vectors with typed errors', () => {
    expect(() => new Sgd(3, { nesterov: true, momentum: 0 })).toThrow(OptionError);
    expect(() => new Sgd(3, { nesterov: true, dampening: 0.1 })).toThrow(/dampening 0/);
    expect(() => new Sgd(3, { weightDecay: -1 })).toThrow(OptionError);
    const sgd = new Sgd(3);
    expect(() => sgd.step(new Float32Array(3), new Float32Array(2), 0.1)).toThrow(ShapeError);
    expect(() => sgd.step(new Float32Array(3), new Float32Array(3), NaN)).toThrow(OptionError);
    expect(() => sgd.loadState({ momentumBuffer: new Float32Array(4), steps: 1 })).toThrow(ShapeError);
  });
});
