import { describe, expect, it } from 'vitest';
import { constant, SecondOrderContext, valueAndGrad, type Node } from '../../src/autodiff/index.js';
import { lossAndGradient, resnet, secondOrder } from '../../src/nn/index.js';
import * as ops from '../../src/ops/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';
import { bits } from '../helpers/bits.js';

/**
 * Batch norm's affine map with the ReLU after it is one primitive, and the gradient (a backward
 * pass nobody differentiates) runs it as one sweep of the kernels instead of its recorded rule.
 * Both are rewrites of arithmetic, not approximations: the numbers must be the same bits.
 */


function readout(y: Node): Node {
  const rng = new Rng(5);
  const a = constant(new Tensor(y.shape, rng.fillNormal(new Float32Array(y.value.size)) as Float32Array));
  return ops.sum(ops.add(ops.mul(a, y), ops.mul(y, y)));
}

const shapes = [[4, 3, 5, 6], [1, 3, 1, 1], [1, 3, 1, 1]];
function theta(seed: number): Float32Array {
  const t = new Rng(seed).fillNormal(new Float32Array(4 * 3 * 5 * 6 + 6)) as Float32Array;
  t[0] = 0; // an affine output of exactly 0 where the shift is 0: the kink, which both sides must treat alike
  t[4 * 3 * 5 * 6 + 3] = 0;
  return t;
}

describe("batch norm's affine map with the ReLU fused in", () => {
  const fused = ([x, s, t]: Node[]) => readout(ops.channelAffine(x!, s!, t!, true));
  const composed = ([x, s, t]: Node[]) => readout(ops.relu(ops.channelAffine(x!, s!, t!)));

  it('gives relu(x·s + t) and its gradient and H·v bit for bit', () => {
    for (const seed of [1, 2, 3]) {
      const th = theta(seed);
      const a = new SecondOrderContext(th, shapes, fused), b = new SecondOrderContext(th, shapes, composed);
      expect(a.loss).toBe(b.loss);
      expect(bits(a.gradient)).toEqual(bits(b.gradient));
      const v = new Rng(seed + 10).fillNormal(new Float32Array(th.length)) as Float32Array;
      expect(bits(a.hvp(v))).toEqual(bits(b.hvp(v)));
    }
  });

  it('the one-sweep gradient equals the recorded backward pass bit for bit, with and without the ReLU', () => {
    const plain = ([x, s, t]: Node[]) => readout(ops.channelAffine(x!, s!, t!));
    for (const f of [fused, composed, plain]) {
      const th = theta(4);
      expect(bits(valueAndGrad(th, shapes, f).gradient)).toEqual(bits(new SecondOrderContext(th, shapes, f).gradient));
    }
  });

  it('a ResNet with BN: the gradient of a training step and of eval mode equals the recorded backward pass bit for bit', () => {
    const model = resnet({ depth: 8, width: 4, seed: 3 });
    const rng = new Rng(8);
    const batch = { x: new Tensor([6, 3, 8, 8], rng.fillNormal(new Float32Array(6 * 3 * 64)) as Float32Array), y: Int32Array.from({ length: 6 }, (_, i) => i % 10) };
    for (const bnMode of ['eval', 'train'] as const) {
      const swept = lossAndGradient(model, batch, { bnMode });
      const recorded = secondOrder(model, batch, { bnMode });
      expect(swept.loss).toBe(recorded.loss);
      expect(bits(swept.gradient)).toEqual(bits(recorded.gradient));
    }
  });
  it("records its backward pass as one primitive whose H·v has the bits of the generic primitives' rules, with each input varying or not", () => {
    // the generic composition records reluGrad, mul, mulSumTo and sumTo: the oracle for the one-sweep cotangents and their tangent
    const rng = new Rng(21);
    const x0 = constant(new Tensor([4, 3, 5, 6], rng.fillNormal(new Float32Array(360)) as Float32Array));
    const s0 = constant(new Tensor([1, 3, 1, 1], Float32Array.of(0.7, -1.2, 0.9))), t0 = constant(new Tensor([1, 3, 1, 1], Float32Array.of(0.2, -0.3, 0)));
    for (const relu of [false, true]) {
      const fusedMap = (x: Node, s: Node, t: Node) => ops.channelAffine(x, s, t, relu);
      const genericMap = (x: Node, s: Node, t: Node) => (relu ? ops.relu(ops.add(ops.mul(x, s), t)) : ops.add(ops.mul(x, s), t));
      const cases: [number[][], (map: typeof fusedMap) => (p: Node[]) => Node][] = [
        [shapes, (map) => ([x, s, t]) => readout(map(x!, s!, t!))],
        [[shapes[0]!], (map) => ([x]) => readout(map(x!, s0, t0))],
        [[shapes[1]!, shapes[2]!], (map) => ([s, t]) => readout(map(x0, s!, t!))],
        [[shapes[0]!, shapes[2]!], (map) => ([x, t]) => readout(map(x!, s0, t!))],
      ];
      for (const [caseShapes, f] of cases) {
        const n = caseShapes.reduce((a, sh) => a + sh.reduce((p, d) => p * d, 1), 0);
        const th = new Rng(n + (relu ? 1 : 0)).fillNormal(new Float32Array(n)) as Float32Array;
        const a = new SecondOrderContext(th, caseShapes, f(fusedMap)), b = new SecondOrderContext(th, caseShapes, f(genericMap));
        const names = (a as unknown as { tape: { nodes: Node[] } }).tape.nodes.map((node) => node.op?.name);
        expect(names).toContain(relu ? 'channelAffineReluCotangent' : 'channelAffineCotangent');
        expect(names).not.toContain('mulSumTo');
        expect(a.loss).toBe(b.loss);
        expect(bits(a.gradient)).toEqual(bits(b.gradient));
        const vs = [1, 2, 3].map((k) => new Rng(k + n).fillNormal(new Float32Array(n)) as Float32Array);
        expect(bits(a.hvp(vs[0]!))).toEqual(bits(b.hvp(vs[0]!)));
        a.hvpBlock(vs).forEach((p, k) => expect(bits(p), `block ${k}`).toEqual(bits(b.hvpBlock(vs)[k]!)));
      }
    }
  });

  it('with a cotangent that does not vary (a loss linear in its output): the same products as the generic rules', () => {
    // the cotangent a is a constant, so its tangent is null and only s, t and x carry tangents
    const a = constant(new Tensor([4, 3, 5, 6], new Rng(22).fillNormal(new Float32Array(360)) as Float32Array));
    for (const relu of [false, true]) {
      const linear = (y: Node) => ops.sum(ops.mul(a, y));
      const fusedF = ([x, s, t]: Node[]) => linear(ops.channelAffine(x!, s!, t!, relu));
      const genericF = ([x, s, t]: Node[]) => linear(relu ? ops.relu(ops.add(ops.mul(x!, s!), t!)) : ops.add(ops.mul(x!, s!), t!));
      const th = theta(7);
      const f = new SecondOrderContext(th, shapes, fusedF), g = new SecondOrderContext(th, shapes, genericF);
      expect(bits(f.gradient)).toEqual(bits(g.gradient));
      const v = new Rng(23).fillNormal(new Float32Array(th.length)) as Float32Array;
      const got = f.hvp(v), want = g.hvp(v);
      // equal as numbers (a term the generic rules leave out is a +0 here, which can only turn a -0 into +0)
      expect(Array.from(got).every((x, i) => x === want[i])).toBe(true);
      expect(Array.from(want).some((x) => x !== 0)).toBe(true);
    }
  });

  it('says so when asked to differentiate its recorded backward pass in reverse again', () => {
    const th = theta(6);
    const ctx = new SecondOrderContext(th, shapes, fused);
    const nodes = (ctx as unknown as { tape: { nodes: Node[] } }).tape.nodes.filter((n) => n.op?.name.startsWith('channelAffineReluCotangent') || n.op?.name === 'channelAffineCotangentSum');
    expect(nodes.map((n) => n.op!.name)).toEqual(['channelAffineReluCotangent', 'channelAffineCotangentSum', 'channelAffineCotangentSum']);
    for (const n of nodes) {
      expect(() => n.op!.vjp(n, n, n.inputs.map(() => true))).toThrow(/belongs to a recorded backward pass, which is differentiated forward \(H·v\), not reverse again/);
    }
  });
});
