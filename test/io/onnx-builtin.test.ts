import { describe, expect, it } from 'vitest';
import { loadModel, loadStateDict } from '../../src/io/index.js';
import { lossAndGradient, resnet, secondOrder } from '../../src/nn/index.js';
import { relativeError } from '../helpers/fixtures.js';
import { fixtureBatch, fixtureDirection, onnxCase } from '../helpers/onnxFixtures.js';

describe.each([
  ['resnet20_bn', true],
  ['resnet20_nobn', false],
] as const)('imported %s against the built-in ResNet-20 on the same weights', (name, batchNorm) => {
  it.each(batchNorm ? (['eval', 'train'] as const) : (['eval'] as const))('BN mode %s: the same loss, gradient, H·v, GGN·v and running statistics', async (mode) => {
    const { file, onnxPath } = await onnxCase(name);
    const imported = await loadModel(onnxPath);
    const builtin = resnet({ depth: 20, batchNorm });
    // the imported file's initialisers are PyTorch's state dict: the built-in model takes them as they are
    loadStateDict(builtin, imported.tensors, onnxPath);
    expect(builtin.blocks.map((b) => [b.name, b.kind, b.shape])).toEqual(imported.model.blocks.map((b) => [b.name, b.kind, b.shape]));
    expect(builtin.hasBatchNorm).toBe(imported.model.hasBatchNorm);

    const batch = fixtureBatch(file);
    const a = lossAndGradient(imported.model, batch, { bnMode: mode });
    const b = lossAndGradient(builtin, batch, { bnMode: mode });
    expect(Math.abs(a.loss - b.loss) / b.loss).toBeLessThan(1e-6);
    expect(relativeError(a.logits.data, b.logits.data)).toBeLessThan(1e-6);
    expect(relativeError(a.gradient, b.gradient)).toBeLessThan(1e-6);

    const v = fixtureDirection(builtin.size);
    const ca = secondOrder(imported.model, batch, { bnMode: mode }), cb = secondOrder(builtin, batch, { bnMode: mode });
    expect(relativeError(ca.hvp(v), cb.hvp(v))).toBeLessThan(1e-6);
    expect(relativeError(ca.ggnBlock([v])[0]!, cb.ggnBlock([v])[0]!)).toBeLessThan(1e-6);
    // the tape is the same: the imported graph records the built-in model's primitives
    expect(ca.primalBytes).toBe(cb.primalBytes);
    const ops = (c: unknown) => (c as { tape: { nodes: { op?: { name: string } }[] } }).tape.nodes.map((n) => n.op?.name ?? '').sort();
    expect(ops(ca)).toEqual(ops(cb)); // the Relus after BN and the residual sums folded in, as the built-in model has them

    if (mode === 'train') {
      imported.model.updateRunningStats(a.bnStats);
      builtin.updateRunningStats(b.bnStats);
      for (const [k, t] of builtin.buffers) expect(relativeError(imported.model.buffers.get(k)!.data, t.data)).toBeLessThan(1e-6);
    }
  });
});
