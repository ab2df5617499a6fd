import { describe, expect, it } from 'vitest';
import { makeNode, SecondOrderContext, type Node, type Primitive } from '../../src/autodiff/index.js';
import { HesseError, NonFiniteError } from '../../src/errors.js';
import { mul, sum } from '../../src/ops/index.js';
import { lossAndGradient, resnet, secondOrder } from '../../src/nn/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';

/**
 * Passes take their buffers from a pool and hand them out again dirty, so these check what would
 * go wrong if a buffer still in use were handed out: every result must be the same bits as on a
 * first pass with fresh memory, whatever ran in between.
 */
function setup(seed: number) {
  const model = resnet({ depth: 8, width: 4, seed });
  const rng = new Rng(seed);
  const n = 6;
  const batch = {
    x: new Tensor([n, 3, 8, 8], rng.fillNormal(new Float32Array(n * 3 * 64)) as Float32Array),
    y: Int32Array.from({ length: n }, () => rng.int(10)),
  };
  const v = rng.fillNormal(new Float32Array(model.size)) as Float32Array;
  return { model, batch, v };
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

describe('buffer pool', () => {
  it('repeated gradients reuse memory and give the same bits; returned logits survive later passes', () => {
    const { model, batch } = setup(1);
    const first = lossAndGradient(model, batch, { bnMode: 'eval' });
    const logits = first.logits.data.slice();
    for (let i = 0; i < 3; i++) {
      const again = lossAndGradient(model, batch, { bnMode: i % 2 ? 'train' : 'eval' });
      if (i % 2 === 0) expect(sameBits(again.gradient, first.gradient)).toBe(true);
    }
    expect(sameBits(first.logits.data, logits)).toBe(true);
  });

  it("a context's products do not change while other passes and contexts come and go", () => {
    const { model, batch, v } = setup(2);
    const ctx = secondOrder(model, batch, { bnMode: 'eval' });
    const hv = ctx.hvp(v);
    const gv = ctx.ggnBlock([v])[0]!;
    const outputs = ctx.outputs!.data.slice();
    for (let i = 0; i < 3; i++) {
      lossAndGradient(model, batch, { bnMode: 'train' });
      const other = secondOrder(model, batch, { bnMode: i % 2 ? 'train' : 'eval' });
      other.hvpBlock([v, hv]);
      other.dispose();
    }
    expect(sameBits(ctx.hvp(v), hv)).toBe(true);
    expect(sameBits(ctx.ggnBlock([v])[0]!, gv)).toBe(true);
    expect(sameBits(ctx.outputs!.data, outputs)).toBe(true);
  });

  it('a disposed context refuses products and says how to get new ones; its outputs stay valid', () => {
    const { model, batch, v } = setup(3);
    const ctx = secondOrder(model, batch, { bnMode: 'eval' });
    const outputs = ctx.outputs!.data.slice();
    ctx.dispose();
    ctx.dispose();
    expect(() => ctx.hvp(v)).toThrow(HesseError);
    expect(() => ctx.hvp(v)).toThrow(/disposed.*build a new one/);
    // the pool hands the recycled values to the next pass; the logits were not among them
    secondOrder(model, batch, { bnMode: 'train' }).hvp(v);
    expect(sameBits(ctx.outputs!.data, outputs)).toBe(true);
  });

  it('keeps only the values the rules read: the cached pass is smaller, and a rule reading a dropped value is refused, not silently off', () => {
    const { model, batch } = setup(4);
    const ctx = secondOrder(model, batch, { bnMode: 'eval' });
    const tape = (ctx as unknown as { tape: { nodes: Node[] } }).tape.nodes;
    let all = 0;
    for (const n of tape) all += n.value.data.byteLength;
    // what the rules read of the tape's values, from each primitive's own jvpReads (the node and its
    // inputs by default; the batch and other constants are not the tape's)
    const onTape = new Set(tape);
    const read = new Set<ArrayBufferLike>();
    for (const n of tape) for (const r of n.op ? (n.op.jvpReads?.(n) ?? [n, ...n.inputs]) : []) if (onTape.has(r)) read.add(r.value.data.buffer);
    let readBytes = 0;
    for (const b of read) readBytes += b.byteLength;
    // kept: exactly those, besides the loss and the logits handed out (a few bytes at this size)
    expect(ctx.primalBytes).toBeGreaterThanOrEqual(readBytes);
    expect(ctx.primalBytes - readBytes).toBeLessThanOrEqual(4 * (1 + 6 * 10));
    expect(ctx.primalBytes).toBeLessThan(0.8 * all);
    // a primitive that claims to read nothing but reads its input's value in its jvp
    const liar: Primitive = {
      name: 'liar',
      jvpReads: () => [],
      jvp: (node, [t], k) => {
        const x = node.inputs[0]!.value.data;
        const out = new Float32Array(k * x.length);
        for (let j = 0; j < k; j++) for (let i = 0; i < x.length; i++) out[j * x.length + i] = t!.data[j * x.length + i]! * x[i]!;
        return new Tensor([k, ...node.shape], out);
      },
      vjp: (_node, g) => [g], // not its derivative: what matters here is that nothing else reads the input's value
    };
    const square = (x: Node): Node => {
      const y = new Tensor(x.shape, x.value.data.map((v) => v * v));
      return makeNode(liar, [mul(x, x)], y);
    };
    // its tangent feeds a product, so the Hessian-vector product depends on what the jvp read
    const c = new SecondOrderContext(Float32Array.of(0.5, -1, 2), [[3]], ([w]) => {
      const l = square(w!);
      return sum(mul(l, l));
    });
    expect(() => c.hvp(Float32Array.of(1, 0, 0))).toThrow(NonFiniteError);
  });
});
