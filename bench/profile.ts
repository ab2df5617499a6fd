/**
 * Where the time of one pass goes: ResNet-20 (eval-mode BN) on a batch of CIFAR-shaped inputs,
 * for the forward pass, the gradient, the recorded primal pass of H·v, one H·v from the cached
 * primal and a block of 8. Every kernel call is timed (GEMM, each convolution kernel, each
 * elementwise kind) and, where the engine runs a primitive's rule (jvp in the replay, vjp in the
 * backward pass), charged to that primitive; what a primitive spends outside kernels is its JS
 * and allocation time, and what a pass spends outside every rule is the engine's own overhead
 * (replay bookkeeping, the tangent pool, seeding and scattering the flat vectors). Garbage
 * collection and page faults are counted per pass. Medians over HESSE_BENCH_REPEATS passes.
 *
 * npm run bench -- profile   (HESSE_BENCH_BATCH, HESSE_BENCH_REPEATS, HESSE_THREADS apply)
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { cpus } from 'node:os';
import { SecondOrderContext, type Node, type Primitive } from '../src/autodiff/index.js';
import { convOutputSize, Elementwise, kernels, kernelsInfo, Muladd, setKernels, type ConvGeometry, type Kernels } from '../src/kernels/index.js';
import { evaluateBatch, lossAndGradient, resnet, secondOrder } from '../src/nn/index.js';
import { Rng, Tensor } from '../src/tensor/index.js';
import { envInt } from './stats.js';

/** How a muladd row names its mode. */
const muladdSuffix: Record<Muladd, string> = { [Muladd.Set]: '', [Muladd.Add]: ' +=', [Muladd.Relu]: ', ReLU', [Muladd.Gate]: ', gated' };

const kindName = Object.fromEntries(Object.entries(Elementwise).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, string>;

interface Cell {
  ms: number;
  calls: number;
  /** floating-point operations (GEMM, convolutions) or bytes moved (elementwise) */
  work: number;
}

/** One pass's times, by (category, row) and by kernel, plus GC and page faults. */
class PassProfile {
  readonly rows = new Map<string, Map<string, Cell>>();
  readonly kernelRows = new Map<string, Cell>();
  wallMs = 0;
  gcMs = 0;
  faults = 0;

  add(category: string, row: string, ms: number, work = 0): void {
    const cat = this.rows.get(category) ?? new Map<string, Cell>();
    this.rows.set(category, cat);
    const c = cat.get(row) ?? { ms: 0, calls: 0, work: 0 };
    c.ms += ms;
    c.calls++;
    c.work += work;
    cat.set(row, c);
  }

  addKernel(row: string, ms: number, work: number): void {
    const c = this.kernelRows.get(row) ?? { ms: 0, calls: 0, work: 0 };
    c.ms += ms;
    c.calls++;
    c.work += work;
    this.kernelRows.set(row, c);
  }
}

let current: PassProfile | undefined;
/** The primitive rule running now (its category and row), to which kernel time is charged. */
let owner: { category: string; row: string; kernelMs: number } | undefined;

/** Multiply-adds x 2 of one convolution pass (forward, backward-input or backward-weight alike). */
export function convFlops(N: number, O: number, g: ConvGeometry): number {
  const { Ho, Wo } = convOutputSize(g);
  return 2 * N * O * g.C * g.kh * g.kw * Ho * Wo;
}

/** The floating-point work of one convolution kernel call: twice a convolution's with a second pair. */
export function convCallFlops(...[, , , N, O, g, , second]: Parameters<Kernels['conv2dForward']>): number {
  return convFlops(N, O, g) * (second ? 2 : 1);
}

/** Elements an elementwise iteration writes: the product of its shape. */
function iterElements(geometry: Float64Array): number {
  let n = 1;
  for (let d = 0; d < geometry[0]!; d++) n *= geometry[1 + d]!;
  return n;
}

/** The kernels, each call timed and charged to the running primitive (or to the pass's own code). */
function timedKernels(base: Kernels): Kernels {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const timed = <F extends (...a: any[]) => void>(label: (...a: Parameters<F>) => string, work: (...a: Parameters<F>) => number, fn: F) =>
    ((...a: Parameters<F>): void => {
      const t = performance.now();
      fn(...a);
      const ms = performance.now() - t;
      if (!current) return;
      const name = label(...a);
      const w = work(...a);
      current.addKernel(name, ms, w);
      if (owner) owner.kernelMs += ms;
      current.add(owner ? owner.category : 'outside primitives (forward constructors)', owner ? `${owner.row} · ${name}` : name, ms, w);
    }) as F;
  type Conv = Kernels['conv2dForward'];
  const convLabel = (what: string) => (...[, , , N, O, g, , second]: Parameters<Conv>) =>
    `${what}${second ? ' (2 pairs)' : ''} ${g.kh}x${g.kw}/s${g.sh} C${g.C}→O${O} ${g.H}x${g.W} N${N}`;
  const convWork = convCallFlops;
  return {
    name: base.name,
    description: base.description,
    sgemm: timed<Kernels['sgemm']>(
      (tA, tB, M, N, K) => `sgemm ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}x${N}x${K}`,
      (_tA, _tB, M, N, K) => 2 * M * N * K,
      base.sgemm.bind(base),
    ),
    im2col: base.im2col.bind(base),
    col2im: base.col2im.bind(base),
    conv2dForward: timed<Conv>(convLabel('conv forward'), convWork, base.conv2dForward.bind(base)),
    conv2dBackwardInput: timed<Conv>(convLabel('conv backward-input'), convWork, base.conv2dBackwardInput.bind(base)),
    conv2dBackwardWeight: timed<Conv>(convLabel('conv backward-weight'), convWork, base.conv2dBackwardWeight.bind(base)),
    binary: timed<Kernels['binary']>(
      (kind, _a, _b, _o, _g, acc) => `binary ${kindName[kind]}${acc ? '+=' : ''}`,
      // bytes: out written (and read when accumulating), a read, b read when it is not broadcast
      (kind, _a, b, _o, g, acc) => {
        const n = iterElements(g);
        return 4 * n * (2 + (acc ? 1 : 0)) + (b && kind !== Elementwise.Copy ? 4 * Math.min(n, b.length) : 0);
      },
      base.binary.bind(base),
    ),
    muladd: timed<Kernels['muladd']>(
      (_a, _b, c, _d, e, _o, _g, mode) => `muladd a·b${c ? ' + c·d' : ''}${e ? ' + e' : ''}${muladdSuffix[mode]}`,
      // bytes: out written (and read when accumulating), and the operands (mask included) that are not per-channel
      (a, b, c, d, e, _o, g, mode, mask) => {
        const n = iterElements(g);
        return 4 * n * (1 + (mode === Muladd.Add ? 1 : 0)) + [a, b, c, d, e, mask].reduce((s, x) => s + (x ? 4 * Math.min(n, x.length) : 0), 0);
      },
      base.muladd.bind(base),
    ),
    reduce: timed<Kernels['reduce']>(
      (_a, b) => `reduce ${b ? 'sum a·b' : 'sum a'}`,
      (_a, b, _o, g) => 4 * iterElements(g) * (b ? 2 : 1),
      base.reduce.bind(base),
    ),
    affineBackward: timed<Kernels['affineBackward']>(
      (_g, _x, _s, mask) => `affine backward${mask ? ' + ReLU' : ''}`,
      // bytes: g, x and (with ReLU) the mask read, dx written
      (_g, _x, _s, mask, _dx, _ds, _dt, N, C, HW) => 4 * N * C * HW * (mask ? 4 : 3),
      base.affineBackward.bind(base),
    ),
    affineBackwardTangent: timed<Kernels['affineBackwardTangent']>(
      (_g, _x, _s, mask) => `affine tangent${mask ? ' + ReLU' : ''}`,
      // bytes: g, x, (with ReLU) the mask, and per tangent tg and (when present) tx read, dgx written
      (_g, _x, _s, mask, _tg, tx, _ts, _dgx, _dgs, _dgt, k, N, C, HW) => 4 * N * C * HW * ((mask ? 3 : 2) + k * (tx ? 3 : 2)),
      base.affineBackwardTangent.bind(base),
    ),
    // the estimators' work, not a pass's: passed through untimed
    gramSchmidt: base.gramSchmidt.bind(base),
  };
}

/** What a tape node is in the network, from its primitive and operand shapes. */
function classify(node: Node): { category: string; row: string } {
  const name = node.op!.name;
  const shapes = node.inputs.map((i) => i.shape);
  const big = node.value.shape.length === 4 || shapes.some((s) => s.length === 4);
  const isChannel = (s: readonly number[]) => s.length === 4 && s[0] === 1 && s[2] === 1 && s[3] === 1;
  const perChannel = shapes.some(isChannel) || isChannel(node.value.shape);
  const role = node.role === 'backward' ? 'backward' : 'forward';
  if (name.startsWith('conv2d')) return { category: 'convolution', row: `${name} (${role})` };
  if (name === 'relu' || name === 'reluGrad') return { category: 'ReLU', row: `${name} (${role})` };
  if (big && (name.startsWith('channelAffine') || (perChannel && ['mul', 'add', 'sub', 'mulSumTo', 'sumTo', 'broadcastTo'].includes(name)))) {
    return { category: 'batch norm (per-channel scale, shift, sums)', row: `${name} (${role})` };
  }
  if (big && (name === 'add' || name === 'addRelu' || name === 'accumulate')) return { category: 'residual add (+ ReLU) / cotangent accumulate', row: `${name} (${role})` };
  return { category: 'head, loss, small ops', row: `${name} (${role})` };
}

/** Wraps the rules of every primitive on the tape so their time (and their kernels') is charged to them. */
function instrumentRules(nodes: readonly Node[]): () => void {
  const ops = new Set<Primitive>();
  for (const n of nodes) if (n.op) ops.add(n.op);
  const restore: (() => void)[] = [];
  for (const op of ops) {
    const mutable = op as { jvp: Primitive['jvp']; vjp: Primitive['vjp'] };
    const { jvp, vjp } = mutable;
    const wrap = (fn: (node: Node, ...rest: never[]) => unknown, rule: string) =>
      function (this: unknown, node: Node, ...rest: never[]): unknown {
        if (!current || owner) return fn.call(op, node, ...rest);
        const c = classify(node);
        const row = `${c.row.replace(/ \((forward|backward)\)$/, '')} ${rule}${node.role === 'backward' ? ' of a backward node' : ''}`;
        owner = { category: c.category, row, kernelMs: 0 };
        const t = performance.now();
        try {
          return fn.call(op, node, ...rest);
        } finally {
          const ms = performance.now() - t;
          const o = owner;
          owner = undefined;
          current.add(c.category, `${row} · JS, allocation`, ms - o.kernelMs);
        }
      };
    mutable.jvp = wrap(jvp, 'jvp') as Primitive['jvp'];
    mutable.vjp = wrap(vjp, 'vjp') as Primitive['vjp'];
    restore.push(() => {
      mutable.jvp = jvp;
      mutable.vjp = vjp;
    });
  }
  return () => restore.forEach((r) => r());
}

let gcMs = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
});

/** Runs one pass under the profiler. */
async function profilePass(fn: () => unknown): Promise<PassProfile> {
  const p = new PassProfile();
  const faults0 = process.resourceUsage().minorPageFault;
  const gc0 = gcMs;
  current = p;
  const t = performance.now();
  try {
    fn();
  } finally {
    p.wallMs = performance.now() - t;
    current = undefined;
  }
  p.faults = process.resourceUsage().minorPageFault - faults0;
  // the observer hears of a pass's collections only after the pass returns to the event loop
  await new Promise((r) => setTimeout(r, 0));
  p.gcMs = gcMs - gc0;
  return p;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length;
  return m === 0 ? 0 : m % 2 ? s[(m - 1) / 2]! : (s[m / 2 - 1]! + s[m / 2]!) / 2;
}

function rate(c: Cell, row: string): string {
  if (!c.work || c.ms <= 0) return '';
  return row.includes('binary') || row.includes('reduce') || row.includes('muladd') || row.includes('affine backward') || row.includes('affine tangent') ? `${(c.work / c.ms / 1e6).toFixed(1)} GB/s` : `${(c.work / c.ms / 1e6).toFixed(1)} GFLOP/s`;
}

export interface PassSummary {
  pass: string;
  wall_ms: number;
  gc_ms: number;
  page_faults: number;
  categories: Record<string, number>;
  kernels: Record<string, number>;
}

/** Prints the median profile of several passes; returns it for the JSON line. */
function report(pass: string, passes: PassProfile[], perTangent = 1, detail = true): PassSummary {
  const wall = median(passes.map((p) => p.wallMs));
  const cats = new Set<string>();
  for (const p of passes) for (const c of p.rows.keys()) cats.add(c);
  const catMs = (p: PassProfile, c: string) => [...(p.rows.get(c)?.values() ?? [])].reduce((s, x) => s + x.ms, 0);
  const categories: Record<string, number> = {};
  console.log(`\n${pass}: ${wall.toFixed(1)} ms median wall${perTangent > 1 ? ` (${(wall / perTangent).toFixed(1)} ms per tangent)` : ''}, ` +
    `GC ${median(passes.map((p) => p.gcMs)).toFixed(1)} ms, ${median(passes.map((p) => p.faults)).toFixed(0)} minor page faults`);
  const ordered = [...cats].map((c) => ({ c, ms: median(passes.map((p) => catMs(p, c))) })).sort((a, b) => b.ms - a.ms);
  let accounted = 0;
  for (const { c, ms } of ordered) {
    categories[c] = ms;
    accounted += ms;
    console.log(`  ${c.padEnd(52)} ${ms.toFixed(1).padStart(8)} ms ${((100 * ms) / wall).toFixed(1).padStart(5)}%`);
    if (!detail) continue;
    const rows = new Set<string>();
    for (const p of passes) for (const r of p.rows.get(c)?.keys() ?? []) rows.add(r);
    const rowStats = [...rows]
      .map((r) => {
        const cells = passes.map((p) => p.rows.get(c)?.get(r) ?? { ms: 0, calls: 0, work: 0 });
        const ms = median(cells.map((x) => x.ms));
        return { r, ms, cell: { ms, calls: cells[0]!.calls, work: cells[0]!.work } };
      })
      .filter((x) => x.ms >= 0.05 * wall / 100 * 20 || x.ms > 1)
      .sort((a, b) => b.ms - a.ms);
    for (const { r, ms, cell } of rowStats.slice(0, 12)) {
      console.log(`      ${r.slice(0, 78).padEnd(78)} ${ms.toFixed(1).padStart(7)} ms ×${String(cell.calls).padStart(3)}  ${rate(cell, r)}`);
    }
  }
  const rest = wall - accounted;
  categories['engine outside rules (replay, pool, seeding, scatter)'] = rest;
  console.log(`  ${'engine outside rules (replay, pool, seeding, scatter)'.padEnd(52)} ${rest.toFixed(1).padStart(8)} ms ${((100 * rest) / wall).toFixed(1).padStart(5)}%`);
  const byKernel: Record<string, number> = {};
  const kernelGroups = new Map<string, number>();
  for (const p of passes) for (const [k] of p.kernelRows) kernelGroups.set(k.split(' ').slice(0, 2).join(' '), 0);
  for (const g of kernelGroups.keys()) {
    byKernel[g] = median(passes.map((p) => [...p.kernelRows].filter(([k]) => k.split(' ').slice(0, 2).join(' ') === g).reduce((s, [, c]) => s + c.ms, 0)));
  }
  const kernelTotal = Object.values(byKernel).reduce((s, x) => s + x, 0);
  console.log(`  by kernel: ${Object.entries(byKernel).sort((a, b) => b[1] - a[1]).map(([k, ms]) => `${k} ${ms.toFixed(0)}`).join(', ')} ms; ` +
    `all kernels ${kernelTotal.toFixed(0)} ms (${((100 * kernelTotal) / wall).toFixed(0)}%), outside kernels ${(wall - kernelTotal).toFixed(0)} ms`);
  return { pass, wall_ms: wall, gc_ms: median(passes.map((p) => p.gcMs)), page_faults: median(passes.map((p) => p.faults)), categories, kernels: byKernel };
}

export async function benchProfile(): Promise<PassSummary[]> {
  const batchSize = envInt('HESSE_BENCH_BATCH', 128);
  const repeats = envInt('HESSE_BENCH_REPEATS', 5);
  const model = resnet({ depth: 20, seed: 0 });
  const rng = new Rng(0);
  const batch = {
    x: new Tensor([batchSize, 3, 32, 32], rng.fillNormal(new Float32Array(batchSize * 3 * 32 * 32)) as Float32Array),
    y: Int32Array.from({ length: batchSize }, () => rng.int(10)),
  };
  const base = kernels();
  console.log(`\nProfile: ResNet-20 (BN, residual, eval mode), batch ${batchSize}, ${cpus()[0]?.model ?? 'unknown CPU'}, kernels: ${kernelsInfo().description}`);
  setKernels(timedKernels(base));
  gcObserver.observe({ entryTypes: ['gc'] });
  const out: PassSummary[] = [];
  try {
    // one recorded context first, so every primitive on the tape is known and instrumented
    const probe = secondOrder(model, batch, { bnMode: 'eval' });
    const restore = instrumentRules((probe as unknown as { tape: { nodes: Node[] } }).tape.nodes);
    const vs = Array.from({ length: 8 }, () => rng.fillNormal(new Float32Array(model.size)) as Float32Array);
    const runs = async (fn: () => unknown, n: number): Promise<PassProfile[]> => {
      fn();
      const ps: PassProfile[] = [];
      for (let i = 0; i < n; i++) ps.push(await profilePass(fn));
      return ps;
    };
    try {
      out.push(report('forward (evaluate, nothing recorded)', await runs(() => evaluateBatch(model, batch), repeats)));
      out.push(report('gradient (forward + backward)', await runs(() => lossAndGradient(model, batch, { bnMode: 'eval' }), repeats)));
      let ctx: SecondOrderContext = probe;
      // each new context replaces the last, whose values go back to the pool (as a run over many batches does)
      const fresh = () => {
        ctx.dispose();
        ctx = secondOrder(model, batch, { bnMode: 'eval' });
      };
      out.push(report('primal pass recorded for H·v (forward + recorded backward)', await runs(fresh, Math.max(3, Math.ceil(repeats / 2)))));
      out.push(report('H·v, cached primal', await runs(() => ctx.hvp(vs[0]!), repeats)));
      out.push(report('H·[v1..v8], cached primal', await runs(() => ctx.hvpBlock(vs), Math.max(2, Math.ceil(repeats / 2))), 8));
    } finally {
      restore();
    }
  } finally {
    setKernels(undefined);
    gcObserver.disconnect();
  }
  console.log(`  JSON ${JSON.stringify({ cpu: cpus()[0]?.model, batch: batchSize, kernels: kernelsInfo().description, passes: out })}`);
  return out;
}
