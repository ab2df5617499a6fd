import { kernels, kernelsInfo, referenceKernels, setKernels } from '../src/kernels/index.js';
import { lossAndGradient, resnet, secondOrder, evaluateBatch, type ResNetDescription } from '../src/nn/index.js';
import { Rng, Tensor } from '../src/tensor/index.js';
import { envInt, timeMedian } from './stats.js';

/** Multiply-adds ×2 of every convolution and the head in one forward pass of a CIFAR ResNet. */
export function resnetForwardFlops(d: ResNetDescription, n: number, hw = 32): number {
  const blocks = (d.depth - 2) / 6;
  let flops = 2 * n * hw * hw * 3 * 9 * d.width; // stem
  let cin = d.width, size = hw;
  [d.width, 2 * d.width, 4 * d.width].forEach((c, stage) => {
    for (let j = 0; j < blocks; j++) {
      const stride = stage > 0 && j === 0 ? 2 : 1;
      const out = size / stride;
      flops += 2 * n * out * out * c * cin * 9; // conv1
      flops += 2 * n * out * out * c * c * 9; // conv2
      if (d.residual && (stride !== 1 || cin !== c)) flops += 2 * n * out * out * c * cin; // 1x1 shortcut
      cin = c;
      size = out;
    }
  });
  return flops + 2 * n * cin * d.classes;
}

export interface EngineFigures {
  kernels: string;
  batch: number;
  forward_ms: number;
  grad_ms: number;
  primal_ms: number;
  hvp_ms: number;
  block8_ms: number;
  /** the process's peak resident memory through forward, gradient, primal pass and single products */
  peak_rss_mib: number;
  /** the same, once the block of 8 has run too */
  peak_rss_block8_mib: number;
}

/** The process's peak resident set so far (MiB), as the OS counts it. */
export function maxRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * ResNet-20 (BN, residual, eval mode) on a batch of CIFAR-shaped inputs: forward, gradient, one
 * Hessian-vector product from a cached primal pass, and a block of 8, with GFLOP/s (counting a
 * gradient as 3 forwards and a product as 6, the work of the passes it replays) and peak memory.
 * The primal pass is timed as a new context each time, the previous one disposed of (its memory
 * back in the pool), as a run over many batches does.
 */
export async function benchEngine(opts: { quiet?: boolean } = {}): Promise<EngineFigures[]> {
  const log = opts.quiet ? () => {} : (s: string) => console.log(s);
  const figures: EngineFigures[] = [];
  const batchSize = envInt('HESSE_BENCH_BATCH', 128);
  const repeats = envInt('HESSE_BENCH_REPEATS', 5);
  const model = resnet({ depth: 20, seed: 0 });
  const rng = new Rng(0);
  const batch = {
    x: new Tensor([batchSize, 3, 32, 32], rng.fillNormal(new Float32Array(batchSize * 3 * 32 * 32)) as Float32Array),
    y: Int32Array.from({ length: batchSize }, () => rng.int(10)),
  };
  const fwdFlops = resnetForwardFlops(model.description as ResNetDescription, batchSize);
  const sets = process.env.HESSE_BENCH_REFERENCE === '1' ? [kernels(), referenceKernels] : [kernels()];
  for (const k of sets) {
    setKernels(k);
    log(`\nResNet-20 (BN, residual, eval mode), batch ${batchSize}, kernels: ${kernelsInfo().description}`);
    const fwd = await timeMedian(() => evaluateBatch(model, batch), repeats);
    const grad = await timeMedian(() => lossAndGradient(model, batch, { bnMode: 'eval' }), repeats);
    let ctx = secondOrder(model, batch, { bnMode: 'eval' });
    const setup = await timeMedian(() => {
      ctx.dispose();
      ctx = secondOrder(model, batch, { bnMode: 'eval' });
    }, Math.max(1, Math.ceil(repeats / 2)));
    const vs = Array.from({ length: 8 }, () => rng.fillNormal(new Float32Array(model.size)) as Float32Array);
    const hvp = await timeMedian(() => ctx.hvp(vs[0]!), repeats);
    const peakSingle = maxRssMiB();
    const block = await timeMedian(() => ctx.hvpBlock(vs), Math.max(1, Math.ceil(repeats / 2)));
    const peakBlock = maxRssMiB();
    const row = (name: string, ms: number, flops: number) =>
      log(`  ${name.padEnd(34)} ${ms.toFixed(1).padStart(9)} ms   ${(flops / ms / 1e6).toFixed(1).padStart(6)} GFLOP/s`);
    row('forward', fwd.medianMs, fwdFlops);
    row('gradient (forward + backward)', grad.medianMs, 3 * fwdFlops);
    row('primal pass for H·v (recorded)', setup.medianMs, 3 * fwdFlops);
    row('H·v, cached primal', hvp.medianMs, 6 * fwdFlops);
    row('H·[v1..v8], one pass', block.medianMs, 48 * fwdFlops);
    log(`  H·v / gradient                      ${(hvp.medianMs / grad.medianMs).toFixed(2)}`);
    log(`  (primal + H·v) / gradient           ${((setup.medianMs + hvp.medianMs) / grad.medianMs).toFixed(2)}`);
    log(`  block of 8 / (8 × single H·v)       ${(block.medianMs / (8 * hvp.medianMs)).toFixed(2)}`);
    log(`  peak resident memory                ${peakSingle.toFixed(0)} MiB through single products (primal cache ${(ctx.primalBytes / 2 ** 20).toFixed(0)} MiB), ${peakBlock.toFixed(0)} MiB with the block of 8`);
    ctx.dispose();
    const f: EngineFigures = {
      kernels: k.name,
      batch: batchSize,
      forward_ms: fwd.medianMs,
      grad_ms: grad.medianMs,
      primal_ms: setup.medianMs,
      hvp_ms: hvp.medianMs,
      block8_ms: block.medianMs,
      peak_rss_mib: Math.round(peakSingle),
      peak_rss_block8_mib: Math.round(peakBlock),
    };
    log(`  JSON ${JSON.stringify(f)}`);
    figures.push(f);
  }
  setKernels(undefined);
  return figures;
}
