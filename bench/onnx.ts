import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadModel, loadStateDict } from '../src/io/index.js';
import { kernels, setKernels, type Kernels } from '../src/kernels/index.js';
import { evaluateBatch, lossAndGradient, resnet, secondOrder, type Batch, type Model, type ObjectiveOptions } from '../src/nn/index.js';
import { Rng, Tensor } from '../src/tensor/index.js';
import { convCallFlops } from './profile.js';
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

/** FLOPs and milliseconds in the kernels during one pass: matrix products (SGEMM and convolutions) and the memory-bound rest. */
interface KernelTally {
  flops: number;
  matrixMs: number;
  elementwiseMs: number;
}

const tally: KernelTally = { flops: 0, matrixMs: 0, elementwiseMs: 0 };

/** The active kernels with every call tallied into `tally`. */
function tallied(base: Kernels): Kernels {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const wrap = <F extends (...a: any[]) => void>(fn: F, flops: ((...a: Parameters<F>) => number) | null): F =>
    ((...a: Parameters<F>): void => {
      const t = performance.now();
      fn(...a);
      const ms = performance.now() - t;
      if (flops) {
        tally.flops += flops(...a);
        tally.matrixMs += ms;
      } else tally.elementwiseMs += ms;
    }) as F;
  type Conv = Kernels['conv2dForward'];
  const conv = convCallFlops;
  return {
    name: base.name,
    description: base.description,
    sgemm: wrap<Kernels['sgemm']>(base.sgemm.bind(base), (_tA, _tB, M, N, K) => 2 * M * N * K),
    im2col: wrap<Kernels['im2col']>(base.im2col.bind(base), null),
    col2im: wrap<Kernels['col2im']>(base.col2im.bind(base), null),
    conv2dForward: wrap<Conv>(base.conv2dForward.bind(base), conv),
    conv2dBackwardInput: wrap<Conv>(base.conv2dBackwardInput.bind(base), conv),
    conv2dBackwardWeight: wrap<Conv>(base.conv2dBackwardWeight.bind(base), conv),
    binary: wrap<Kernels['binary']>(base.binary.bind(base), null),
    muladd: wrap<Kernels['muladd']>(base.muladd.bind(base), null),
    reduce: wrap<Kernels['reduce']>(base.reduce.bind(base), null),
    affineBackward: wrap<Kernels['affineBackward']>(base.affineBackward.bind(base), null),
    affineBackwardTangent: wrap<Kernels['affineBackwardTangent']>(base.affineBackwardTangent.bind(base), null),
    gramSchmidt: wrap<Kernels['gramSchmidt']>(base.gramSchmidt.bind(base), null),
  };
}

/**
 * Where one pass's time goes, from a separate tallied run (the timings above run untallied): its
 * GFLOP/s over the wall time, and the shares in matrix kernels, elementwise kernels and outside
 * the kernels (the engine, the operators' JavaScript, allocation).
 */
function whereTimeGoes(label: string, f: () => unknown, repeats: number): { label: string; gflops: number; gflopPerS: number; matrixGflopPerS: number; matrixShare: number; elementwiseShare: number; outsideShare: number } {
  const base = kernels();
  setKernels(tallied(base));
  const rows: { wall: number; t: KernelTally }[] = [];
  try {
    f();
    for (let r = 0; r < repeats; r++) {
      Object.assign(tally, { flops: 0, matrixMs: 0, elementwiseMs: 0 });
      const t = performance.now();
      f();
      rows.push({ wall: performance.now() - t, t: { ...tally } });
    }
  } finally {
    setKernels(base);
  }
  rows.sort((a, b) => a.wall - b.wall);
  const { wall, t } = rows[Math.floor(rows.length / 2)]!;
  return {
    label,
    gflops: t.flops / 1e9,
    gflopPerS: t.flops / wall / 1e6,
    matrixGflopPerS: t.matrixMs > 0 ? t.flops / t.matrixMs / 1e6 : 0,
    matrixShare: t.matrixMs / wall,
    elementwiseShare: t.elementwiseMs / wall,
    outsideShare: 1 - (t.matrixMs + t.elementwiseMs) / wall,
  };
}

function printWhere(rows: ReturnType<typeof whereTimeGoes>[]): void {
  for (const w of rows) {
    console.log(
      `    ${w.label.padEnd(9)} ${w.gflops.toFixed(3).padStart(7)} GFLOP, ${w.gflopPerS.toFixed(1).padStart(6)} GFLOP/s over the pass (${w.matrixGflopPerS.toFixed(1)} inside the matrix kernels); ` +
        `time: matrix kernels ${(100 * w.matrixShare).toFixed(0)}%, elementwise kernels ${(100 * w.elementwiseShare).toFixed(0)}%, outside the kernels ${(100 * w.outsideShare).toFixed(0)}%`,
    );
  }
}

/** The three passes of one model, each profiled by `whereTimeGoes`. */
function profilePasses(model: Model, batch: Batch, repeats: number, opts?: ObjectiveOptions) {
  const ctx = secondOrder(model, batch, opts);
  const v = new Rng(2).fillNormal(new Float32Array(model.size)) as Float32Array;
  return [
    whereTimeGoes('forward', () => evaluateBatch(model, batch, opts), repeats),
    whereTimeGoes('gradient', () => lossAndGradient(model, batch, opts), repeats),
    whereTimeGoes('H·v', () => ctx.hvp(v), repeats),
  ];
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
  console.log('  where the imported ResNet-20\'s time goes (kernels tallied, a separate run):');
  const resnetWhere = profilePasses(imported.model, images, repeats);
  printWhere(resnetWhere);

  const lm = await loadModel(fixture('decoder'));
  const sequences = envInt('HESSE_BENCH_SEQUENCES', 64);
  const tokens = Float32Array.from({ length: sequences * 8 }, () => rng.int(17));
  const tokenBatch: Batch = { x: new Tensor([sequences, 8], tokens), y: Int32Array.from({ length: sequences * 8 }, () => rng.int(17)), yShape: [sequences, 8], xKind: 'int' };
  const t = alternate([{ name: 'decoder', model: lm.model, batch: tokenBatch }], repeats).get('decoder')!;
  console.log(`decoder-only transformer (2 layers, d 16, ${lm.model.size} parameters), ${sequences} sequences of 8 tokens:`);
  print('decoder.onnx', t);
  console.log('  where its time goes (kernels tallied, a separate run):');
  const decoderWhere = profilePasses(lm.model, tokenBatch, repeats);
  printWhere(decoderWhere);
  console.log(`  JSON ${JSON.stringify({ cpu: cpus()[0]?.model, batch: batchSize, builtin: a, imported: b, resnetWhere, decoder: { sequences, ...t }, decoderWhere })}`);
}
