import { describe, expect, it } from 'vitest';
import { HesseError, ShapeError } from '../../src/errors.js';
import { lossAndGradient, mlp, resnet } from '../../src/nn/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';

function names(m: ReturnType<typeof resnet>) {
  return m.stateOrder.map((e) => e.name);
}

describe('CIFAR ResNet family', () => {
  it('has PyTorch state-dict names, shapes and order for ResNet-20', () => {
    const m = resnet({ depth: 20 });
    const n = names(m);
    expect(n.slice(0, 5)).toEqual(['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var']);
    expect(n).toContain('layer2.0.downsample.0.weight');
    expect(n).toContain('layer2.0.downsample.1.running_var');
    expect(n).toContain('layer3.2.conv2.weight');
    expect(n).not.toContain('layer1.0.downsample.0.weight');
    expect(n.slice(-2)).toEqual(['fc.weight', 'fc.bias']);
    expect(m.param('layer2.0.conv1.weight').shape).toEqual([32, 16, 3, 3]);
    expect(m.param('layer3.0.downsample.0.weight').shape).toEqual([64, 32, 1, 1]);
    expect(m.param('fc.weight').shape).toEqual([10, 64]);
    expect(m.size).toBe(272474);
  });

  it('removes batch norm stage by stage', () => {
    const m = resnet({ depth: 8, batchNorm: { stem: false, stages: [true, false, true] } });
    const n = names(m);
    expect(n.filter((k) => k.startsWith('bn1'))).toEqual([]);
    expect(n).toContain('layer1.0.bn1.weight');
    expect(n).toContain('layer1.0.bn2.running_mean');
    expect(n.filter((k) => k.startsWith('layer2.') && k.includes('bn'))).toEqual([]);
    expect(n).toContain('layer2.0.downsample.0.weight');
    expect(n).not.toContain('layer2.0.downsample.1.weight');
    expect(n).toContain('layer3.0.downsample.1.weight');
    expect([...m.bnLayers.keys()]).toEqual(['layer1.0.bn1', 'layer1.0.bn2', 'layer3.0.bn1', 'layer3.0.bn2', 'layer3.0.downsample.1']);
  });

  it('has no shortcut convolutions without residual connections, and no BN keys without BN', () => {
    const n = names(resnet({ depth: 14, residual: false, batchNorm: false }));
    expect(n.some((k) => k.includes('downsample'))).toBe(false);
    expect(n.some((k) => k.includes('bn'))).toBe(false);
    expect(n.filter((k) => k.endsWith('conv1.weight')).length).toBe(1 + 6);
  });

  it('initialises as PyTorch CIFAR ResNets: He-normal (fan-out) convs, BN weight 1 and bias 0, seeded', () => {
    const a = resnet({ depth: 20, seed: 5 });
    const b = resnet({ depth: 20, seed: 5 });
    const c = resnet({ depth: 20, seed: 6 });
    const same = (x: Float32Array, y: Float32Array) => Buffer.from(x.buffer).equals(Buffer.from(y.buffer));
    expect(same(a.theta, b.theta)).toBe(true);
    expect(same(a.theta, c.theta)).toBe(false);
    const w = a.param('layer3.1.conv1.weight').data;
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(std).toBeGreaterThan(0.95 * Math.sqrt(2 / (9 * 64)));
    expect(std).toBeLessThan(1.05 * Math.sqrt(2 / (9 * 64)));
    expect([...a.param('layer1.0.bn1.weight').data].every((v) => v === 1)).toBe(true);
    expect([...a.param('layer1.0.bn1.bias').data].every((v) => v === 0)).toBe(true);
  });

  it('refuses depths that are not 6n+2 and inputs of the wrong shape with clear errors', () => {
    expect(() => resnet({ depth: 21 })).toThrow(/6n\+2/);
    const m = resnet({ depth: 8, width: 4 });
    const x = new Tensor([2, 1, 8, 8]);
    expect(() => lossAndGradient(m, { x, y: Int32Array.of(0, 1) })).toThrow(ShapeError);
    const good = new Tensor([2, 3, 8, 8]);
    expect(() => lossAndGradient(m, { x: good, y: Int32Array.of(0, 10) })).toThrow(/outside the 10 classes/);
    expect(() => lossAndGradient(m, { x: good, y: Int32Array.of(0) })).toThrow(HesseError);
  });

  it('updates BN running statistics in train mode as PyTorch (momentum 0.1, unbiased variance)', () => {
    const m = resnet({ depth: 8, width: 2 });
    const x = new Tensor([4, 3, 6, 6], new Rng(1).fillNormal(new Float32Array(4 * 3 * 36), 0.5, 2) as Float32Array);
    const r = lossAndGradient(m, { x, y: Int32Array.of(0, 1, 2, 3) }, { bnMode: 'train' });
    m.updateRunningStats(r.bnStats);
    // The stem BN sees conv1(x): recompute that convolution (3x3, padding 1, no bias) and its
    // per-channel statistics directly from the input and the weights, in float64.
    const w = m.param('conv1.weight').data;
    const [batch, cin, h, wd] = [4, 3, 6, 6];
    const rm = m.buffers.get('bn1.running_mean')!.data;
    const rv = m.buffers.get('bn1.running_var')!.data;
    for (let c = 0; c < 2; c++) {
      const values: number[] = [];
      for (let b = 0; b < batch; b++)
        for (let i = 0; i < h; i++)
          for (let j = 0; j < wd; j++) {
            let s = 0;
            for (let k = 0; k < cin; k++)
              for (let di = -1; di <= 1; di++)
                for (let dj = -1; dj <= 1; dj++) {
                  const ii = i + di;
                  const jj = j + dj;
                  if (ii < 0 || ii >= h || jj < 0 || jj >= wd) continue;
                  s += w[((c * cin + k) * 3 + di + 1) * 3 + dj + 1]! * x.data[((b * cin + k) * h + ii) * wd + jj]!;
                }
            values.push(s);
          }
      const mean = values.reduce((a, v) => a + v, 0) / values.length;
      const unbiased = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
      // float32 running statistics: a few ulps of 0.9 + 0.1·var
      expect(Math.abs(rm[c]! - 0.1 * mean)).toBeLessThan(1e-6 * Math.max(1, Math.abs(0.1 * mean)));
      expect(Math.abs(rv[c]! - (0.9 + 0.1 * unbiased))).toBeLessThan(1e-6 * (0.9 + 0.1 * unbiased));
    }
    expect(r.bnStats.get('bn1')!.count).toBe(4 * 36);
    expect(m.batchesTracked).toBe(1);
  });
});

describe('MLP', () => {
  it('names layers layers.0, layers.1, ... and flattens image inputs', () => {
    const m = mlp({ sizes: [12, 5, 3], activation: 'tanh' });
    expect(m.stateOrder.map((e) => e.name)).toEqual(['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']);
    const x = new Tensor([2, 3, 2, 2], new Float32Array(24).fill(0.5));
    const r = lossAndGradient(m, { x, y: Int32Array.of(0, 2) });
    expect(r.logits.shape).toEqual([2, 3]);
    expect(() => mlp({ sizes: [3] })).toThrow(/at least two/);
  });
});
