import { hessianOperator } from '../src/curvature/index.js';
import { hutchinson, hutchPlusPlus, lanczosEigs, powerIteration, slq } from '../src/linalg/index.js';
import { resnet } from '../src/nn/index.js';
import { Rng, Tensor } from '../src/tensor/index.js';
import { envInt } from './stats.js';

/**
 * The methods side by side on ResNet-20 (random weights, eval-mode BN) and a batch of 128:
 * top eigenvalue by power iteration vs Lanczos to the same accuracy, trace by Hutchinson vs
 * Hutch++ at the same product budget, and a 100-step SLQ density. Products and seconds each.
 */
export async function benchAlgorithms(): Promise<void> {
  const batchSize = envInt('HESSE_BENCH_BATCH', 128);
  const traceBudget = envInt('HESSE_BENCH_TRACE_PRODUCTS', 99);
  const model = resnet({ depth: 20, seed: 0 });
  const rng = new Rng(1);
  const batch = {
    x: new Tensor([batchSize, 3, 32, 32], rng.fillNormal(new Float32Array(batchSize * 3 * 1024)) as Float32Array),
    y: Int32Array.from({ length: batchSize }, () => rng.int(10)),
  };
  const op = hessianOperator(model, batch, { bnMode: 'eval' });
  console.log(`\nAlgorithms on ResNet-20, batch ${batchSize} (${model.size} parameters)`);
  const row = (name: string, products: number, ms: number, what: string) =>
    console.log(`  ${name.padEnd(36)} ${String(products).padStart(5)} products ${(ms / 1000).toFixed(1).padStart(7)} s   ${what}`);

  const lz = await lanczosEigs(op, { k: 1, tol: 1e-3, seed: 0 });
  row('top eigenvalue, Lanczos (tol 1e-3)', lz.products, lz.wallTimeMs, `λ = ${lz.eigenvalues[0]!.toPrecision(6)}, residual ${lz.residualNorms[0]!.toExponential(2)}`);
  const target = lz.eigenvalues[0]!;
  // power iteration until its eigenvalue is as close to Lanczos' as Lanczos' own residual bound allows
  const pi = await powerIteration(op, { topN: 1, maxIter: envInt('HESSE_BENCH_POWER_MAX', 300), tol: 1e-6, seed: 0 });
  const hist = pi.history[0] ?? [];
  const bound = Math.max(lz.residualNorms[0]!, 1e-3 * Math.abs(target));
  const reached = hist.findIndex((v) => Math.abs(v - target) <= bound);
  row('top eigenvalue, power iteration', pi.products, pi.wallTimeMs, `λ = ${pi.eigenvalues[0]!.toPrecision(6)}; within ${bound.toExponential(1)} of Lanczos after ${reached >= 0 ? reached + 1 : '>' + hist.length} products`);
  const pyh = await powerIteration(op, { topN: 1, seed: 0 });
  row('top eigenvalue, power (PyHessian rule)', pyh.products, pyh.wallTimeMs, `λ = ${pyh.eigenvalues[0]!.toPrecision(6)} (tol 1e-3 on consecutive estimates)`);

  const hu = await hutchinson(op, { probes: traceBudget, seed: 0 });
  row(`trace, Hutchinson (${traceBudget} probes)`, hu.products, hu.wallTimeMs, `${hu.estimate.toPrecision(6)} ± ${hu.standardError.toPrecision(3)} (${((100 * hu.standardError) / Math.abs(hu.estimate)).toFixed(2)}% relative SE)`);
  const hpp = await hutchPlusPlus(op, { products: Math.floor(traceBudget / 3) * 3, seed: 0 });
  row(`trace, Hutch++ (${Math.floor(traceBudget / 3) * 3} products)`, hpp.products, hpp.wallTimeMs, `${hpp.estimate.toPrecision(6)} ± ${hpp.standardError.toPrecision(3)} (${((100 * hpp.standardError) / Math.abs(hpp.estimate)).toFixed(2)}% relative SE)`);
  const probesFor1pct = Math.ceil(hu.samples.length * (hu.standardError / (0.01 * Math.abs(hu.estimate))) ** 2);
  console.log(`  Hutchinson would need about ${probesFor1pct} probes for a 1% relative standard error (SE ∝ 1/√probes)`);

  const s = await slq(op, { steps: 100, probes: 1, seed: 0 });
  const nodes = s.runs[0]!.nodes;
  row('density, SLQ (100 steps, 1 probe)', s.products, s.wallTimeMs, `Ritz values in [${Math.min(...nodes).toPrecision(4)}, ${Math.max(...nodes).toPrecision(4)}]`);
}
