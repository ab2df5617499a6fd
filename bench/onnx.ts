import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadModel, loadStateDict } from '../src/io/index.js';
import { evaluateBatch, lossAndGradient, resnet, secondOrder, type Batch, type Model, type ObjectiveOptions } from '../src/nn/index.js';
import { Rng, Tensor } from '../src/tensor/index.js';
import { envInt } from './stats.js';

const fixture = (name: string) => fileURLToPath(new URL(`../test/fixtures/onnx/${name}.onnx`, import.meta.url));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

interface Timed {
  forward: number;
  gradient: number;
  hvp: number;
}

/** forward, gradient and H·v (cached primal) of each model, the models taking turns every repeat (the machine is shared). */
function alternate(models: { name: string; model: Model; batch: Batch; opts?: ObjectiveOptions }[], repeats: number): Map<string, Timed> {
  const runs = new Map(models.map((m) => [m.name, { forward: [] as number[], gradient: [] as number[], hvp: [] as number[] }]));
  const contexts = models.map((m) => secondOrder(m.model, m.batch, m.opts));
  const v = models.map((m) => new Rng(1).fillNormal(new Float32Array(m.model.size)) as Float32Array);
  const time = (f: () => unknown) => {
    const t = performance.now();
    f();
    return performance.now() - t;
  };
  for (let r = -1; r < repeats; r++) {
    const order = r % 2 === 0 ? models.map((_, i) => i) : models.map((_, i) => models.length - 1 - i);
    for (const i of order) {
      const m = models[i]!;
      const f = time(() => evaluateBatch(m.model, m.batch, m.opts));
      const g = time(() => lossAndGradient(m.model, m.batch, m.opts));
      const h = time(() => contexts[i]!.hvp(v[i]!));
      if (r < 0) continue; // warm-up
      const rec = runs.get(m.name)!;
      rec.forward.push(f);
      rec.gradient.push(g);
      rec.hvp.push(h);
    }
  }
  return new Map([...runs].map(([k, r]) => [k, { forward: median(r.forward), gradient: median(r.gradient), hvp: median(r.hvp) }]));
}

function print(name: string, t: Timed): void {
  console.log(`  ${name.padEnd(30)} forward ${t.forward.toFixed(1).padStart(8)} ms   gradient ${t.gradient.toFixed(1).padStart(8)} ms   H·v ${t.hvp.toFixed(1).padStart(8)} ms   H·v / gradient ${(t.hvp / t.gradient).toFixed(2)}`);
}

/**
 * ONNX import: the ResNet-20 fixture exported from PyTorch beside the built-in ResNet-20 with the
 * same weights (same batch, alternating), and the decoder-only transformer fixture.
 */
export async function benchOnnx(): Promise<void> {
  const batchSize = envInt('HESSE_BENCH_BATCH', 32);
  const repeats = envInt('HESSE_BENCH_REPEATS', 7);
  console.log(`\nONNX import, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores), medians of ${repeats} alternating runs`);
  const imported = await loadModel(fixture('resnet20_bn'));
  const builtin = resnet({ depth: 20 });
  loadStateDict(builtin, imported.tensors, 'resnet20_bn.onnx');
  const rng = new Rng(0);
  const images: Batch = {
    x: new Tensor([batchSize, 3, 32, 32], rng.fillNormal(new Float32Array(batchSize * 3 * 32 * 32)) as Float32Array),
    y: Int32Array.from({ length: batchSize }, () => rng.int(10)),
  };
  const r = alternate(
    [
      { name: 'built-in', model: builtin, batch: images },
      { name: 'imported', model: imported.model, batch: images },
    ],
    repeats,
  );
  console.log(`ResNet-20 (BN, eval mode), batch ${batchSize}:`);
  const a = r.get('built-in')!, b = r.get('imported')!;
  print('built-in resnet({ depth: 20 })', a);
  print('imported resnet20_bn.onnx', b);
  console.log(`  imported / built-in: forward ${(b.forward / a.forward).toFixed(3)}, gradient ${(b.gradient / a.gradient).toFixed(3)}, H·v ${(b.hvp / a.hvp).toFixed(3)}`);

  const lm = await loadModel(fixture('decoder'));
  const sequences = envInt('HESSE_BENCH_SEQUENCES', 64);
  const tokens = Float32Array.from({ length: sequences * 8 }, () => rng.int(17));
  const tokenBatch: Batch = { x: new Tensor([sequences, 8], tokens), y: Int32Array.from({ length: sequences * 8 }, () => rng.int(17)), yShape: [sequences, 8], xKind: 'int' };
  const t = alternate([{ name: 'decoder', model: lm.model, batch: tokenBatch }], repeats).get('decoder')!;
  console.log(`decoder-only transformer (2 layers, d 16, ${lm.model.size} parameters), ${sequences} sequences of 8 tokens:`);
  print('decoder.onnx', t);
  console.log(`  JSON ${JSON.stringify({ batch: batchSize, builtin: a, imported: b, decoder: { sequences, ...t } })}`);
}
