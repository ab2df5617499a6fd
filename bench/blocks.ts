/**
 * Blocks of tangents against single products: for each batch size, the time per tangent of
 * H·[v1..vk] from a cached primal pass for k = 1, 2, 4, 8, the block sizes measured in turn
 * (k = 1, 2, 4, 8, 1, 2, ...) so a drifting machine moves them alike, medians, and the ratio to a
 * single product: what the operators' choice of block size should rest on.
 *
 * npm run bench -- blocks   (HESSE_BENCH_BLOCK_BATCHES=8,32,128,200, HESSE_BENCH_REPEATS)
 */
import { cpus } from 'node:os';
import { kernelsInfo } from '../src/kernels/index.js';
import { resnet, secondOrder } from '../src/nn/index.js';
import { Rng, Tensor } from '../src/tensor/index.js';
import { envInt } from './stats.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length;
  return m % 2 ? s[(m - 1) / 2]! : (s[m / 2 - 1]! + s[m / 2]!) / 2;
}

export async function benchBlocks(): Promise<void> {
  const batches = (process.env.HESSE_BENCH_BLOCK_BATCHES ?? '8,32,128,200').split(',').map(Number);
  const repeats = envInt('HESSE_BENCH_REPEATS', 5);
  const ks = [1, 2, 4, 8];
  console.log(`\nBlocks of tangents, ResNet-20 (eval-mode BN) on ${cpus()[0]?.model ?? 'unknown CPU'}, kernels: ${kernelsInfo().description}; ms per tangent (median of ${repeats}), and against one product`);
  const model = resnet({ depth: 20, seed: 0 });
  for (const n of batches) {
    const rng = new Rng(n);
    const batch = { x: new Tensor([n, 3, 32, 32], rng.fillNormal(new Float32Array(n * 3072)) as Float32Array), y: Int32Array.from({ length: n }, () => rng.int(10)) };
    const ctx = secondOrder(model, batch, { bnMode: 'eval' });
    const vs = Array.from({ length: 8 }, () => rng.fillNormal(new Float32Array(model.size)) as Float32Array);
    const times = new Map<number, number[]>(ks.map((k) => [k, []]));
    for (const k of ks) ctx.hvpBlock(vs.slice(0, k)); // warm-up: the pool learns every block's sizes
    for (let r = 0; r < repeats; r++) {
      for (const k of ks) {
        const t = performance.now();
        ctx.hvpBlock(vs.slice(0, k));
        times.get(k)!.push((performance.now() - t) / k);
      }
    }
    ctx.dispose();
    const single = median(times.get(1)!);
    console.log(`  batch ${String(n).padStart(4)}: ` + ks.map((k) => `k=${k} ${median(times.get(k)!).toFixed(1)} ms (${(median(times.get(k)!) / single).toFixed(2)})`).join('   '));
  }
}
