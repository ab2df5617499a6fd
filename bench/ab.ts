/**
 * A/B of two checkouts of hesse in one process: this tree (A) against the one at HESSE_AB_BASE
 * (B, e.g. `git worktree add /tmp/base <commit> && (cd /tmp/base && npm install)`), each with its
 * own native addon, on the same ResNet-20 and batch. The passes alternate A B A B ..., so a
 * machine whose speed drifts (other jobs on a shared host) moves both alike; the figures are the
 * median of each side and the median of the per-pair ratios A/B.
 *
 * HESSE_AB_BASE=/tmp/base npm run bench -- ab   (HESSE_BENCH_BATCH, HESSE_BENCH_REPEATS, HESSE_AB_PASSES=forward,gradient,primal,hvp,block8)
 */
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { envInt } from './stats.js';

interface Engine {
  label: string;
  run: Record<string, () => void>;
}

async function engineAt(root: string, label: string, batchSize: number): Promise<Engine> {
  const nn = await import(pathToFileURL(resolve(root, 'src/nn/index.ts')).href);
  const tensor = await import(pathToFileURL(resolve(root, 'src/tensor/index.ts')).href);
  const model = nn.resnet({ depth: 20, seed: 0 });
  const rng = new tensor.Rng(0);
  const batch = {
    x: new tensor.Tensor([batchSize, 3, 32, 32], rng.fillNormal(new Float32Array(batchSize * 3 * 32 * 32))),
    y: Int32Array.from({ length: batchSize }, () => rng.int(10)),
  };
  const vs = Array.from({ length: 8 }, () => rng.fillNormal(new Float32Array(model.size)) as Float32Array);
  let ctx = nn.secondOrder(model, batch, { bnMode: 'eval' });
  return {
    label,
    run: {
      forward: () => nn.evaluateBatch(model, batch),
      gradient: () => nn.lossAndGradient(model, batch, { bnMode: 'eval' }),
      // the previous context is disposed of first, as a caller done with it would (left to the
      // garbage collector, every pass would take its memory fresh from the system)
      primal: () => {
        ctx.dispose();
        ctx = nn.secondOrder(model, batch, { bnMode: 'eval' });
      },
      hvp: () => ctx.hvp(vs[0]!),
      block8: () => ctx.hvpBlock(vs),
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length;
  return m % 2 ? s[(m - 1) / 2]! : (s[m / 2 - 1]! + s[m / 2]!) / 2;
}

export async function benchAb(): Promise<void> {
  const base = process.env.HESSE_AB_BASE;
  if (!base) {
    console.log('\nA/B: set HESSE_AB_BASE to another checkout of hesse (built) to compare this tree against it');
    return;
  }
  const batchSize = envInt('HESSE_BENCH_BATCH', 128);
  const repeats = envInt('HESSE_BENCH_REPEATS', 7);
  const passes = (process.env.HESSE_AB_PASSES ?? 'forward,gradient,primal,hvp,block8').split(',');
  const a = await engineAt(resolve(import.meta.dirname, '..'), 'A (this tree)', batchSize);
  const b = await engineAt(base, `B (${base})`, batchSize);
  console.log(`\nA/B on ${cpus()[0]?.model ?? 'unknown CPU'}: ResNet-20, batch ${batchSize}, eval-mode BN, ${repeats} pairs per pass, alternating`);
  for (const pass of passes) {
    const fa = a.run[pass], fb = b.run[pass];
    if (!fa || !fb) throw new Error(`unknown pass '${pass}' (forward, gradient, primal, hvp, block8)`);
    fa();
    fb();
    const ta: number[] = [], tb: number[] = [], ca: number[] = [], cb: number[] = [], ratio: number[] = [], cpuRatio: number[] = [];
    const time = (f: () => void): [number, number] => {
      const c = process.cpuUsage();
      const t = performance.now();
      f();
      const wall = performance.now() - t;
      const used = process.cpuUsage(c);
      return [wall, (used.user + used.system) / 1000];
    };
    for (let i = 0; i < repeats; i++) {
      // alternate which side goes first, so neither always inherits the other's cache and allocator state
      const [x, y] = i % 2 === 0 ? [time(fa), time(fb)] : (() => { const yb = time(fb); return [time(fa), yb]; })();
      ta.push(x[0]);
      tb.push(y[0]);
      ca.push(x[1]);
      cb.push(y[1]);
      ratio.push(x[0] / y[0]);
      cpuRatio.push(x[1] / y[1]);
    }
    console.log(
      `  ${pass.padEnd(9)} wall A ${median(ta).toFixed(1).padStart(8)} ms  B ${median(tb).toFixed(1).padStart(8)} ms  A/B ${median(ratio).toFixed(3)}` +
        `   CPU A ${median(ca).toFixed(0).padStart(6)} ms  B ${median(cb).toFixed(0).padStart(6)} ms  A/B ${median(cpuRatio).toFixed(3)}   (wall pairs ${ratio.map((r) => r.toFixed(2)).join(' ')})`,
    );
  }
}
