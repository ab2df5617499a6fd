import { cpus } from 'node:os';
import { denseOperator, hutchinson, hutchPlusPlus, standardErrorOfMean, symmetricWithSpectrum, xtrace, type LinearOperator } from '../src/linalg/index.js';
import { envInt } from './stats.js';

/**
 * The coverage of the trace estimators' error bars, the figures README's "Estimators and their
 * error bars" and the estimators' doc comments quote: on dense matrices with known traces, the
 * share of seeded runs in which estimate ± 2 reported standard errors held the true trace, and
 * how large the reported standard error is against the actual error (the root-mean-square of
 * estimate - trace over the seeds). Each spectrum gets one matrix, Q diag(λ) Qᵀ with a fixed Haar
 * Q; the seeds vary the probes.
 *
 * - Hutchinson with targetRse (the library's rule: guarded SE, minProbes 30), at two targets per
 *   spectrum, chosen from the exact per-probe variance 2(||A||_F² - Σ a_ii²) so that they need
 *   about 50 and 300 probes. Beside it, on the same samples (probe i is the same vector whatever
 *   the rule), the stop a plain sample standard error would make: at the first probe count >=
 *   minProbes at which standardErrorOfMean(samples)/|mean| <= target, from the 2nd probe and from
 *   the 30th. The guarded SE is never below the plain one, so the plain stop comes at or before
 *   the library's and its samples are a prefix of the library run's.
 * - Hutch++ at 99, 39 and 21 products (33, 13 and 7 residual probes).
 * - XTrace at 20, 40 and 100 products: its leave-one-out standardError and its
 *   jackknifeStandardError, from the same runs.
 *
 * HESSE_BENCH_COVERAGE_SEEDS (400) and HESSE_BENCH_COVERAGE_N (200) set the seeds and dimension.
 */
export async function benchCoverage(): Promise<void> {
  const seeds = envInt('HESSE_BENCH_COVERAGE_SEEDS', 400);
  const n = envInt('HESSE_BENCH_COVERAGE_N', 200);
  const cap = 4000;
  const linspace = (a: number, b: number, k: number) => Array.from({ length: k }, (_, i) => a + ((b - a) * i) / (k - 1));
  const spectra: { name: string; eigenvalues: number[] }[] = [
    { name: 'flat', eigenvalues: linspace(-2, 5, n) }, // indefinite, evenly spread over [-2, 5]
    { name: '1/i', eigenvalues: Array.from({ length: n }, (_, i) => 1 / (i + 1)) },
    { name: '1/i²', eigenvalues: Array.from({ length: n }, (_, i) => 1 / (i + 1) ** 2) },
    { name: 'outliers+bulk', eigenvalues: [30, 10, 5, ...linspace(-0.5, 1, n - 3)] }, // three outliers, an indefinite bulk
  ];
  const probeTargets = [50, 300];
  const hppBudgets = [99, 39, 21];
  const xtBudgets = [20, 40, 100];

  console.log(`\nCoverage of the trace estimators' error bars on ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} CPUs)`);
  console.log(`  ${seeds} seeds per row, dense n = ${n}, Rademacher probes; products: median probes used (Hutchinson) or products; covered: |estimate - trace| <= 2 SE; SE/err: median reported SE / RMS error over the seeds`);
  console.log('  spectra: flat = linspace(-2, 5, n); 1/i and 1/i², i = 1..n; outliers+bulk = 30, 10, 5 and linspace(-0.5, 1, n-3)');
  console.log(`  Hutchinson targets: the relative SE of about ${probeTargets.join(' and ')} probes (probe cap ${cap}); Hutch++ products ${hppBudgets.join(', ')}; XTrace products ${xtBudgets.join(', ')}`);
  console.log(`  a coverage near 95% over ${seeds} seeds has a binomial standard error of ${(100 * Math.sqrt(0.95 * 0.05 / seeds)).toFixed(1)} points; each spectrum's matrix is one fixed Haar rotation (seed 100 + its index)`);
  const header = `  ${'spectrum'.padEnd(14)} ${'estimator'.padEnd(48)} ${'products'.padStart(8)} ${'covered'.padStart(8)} ${'SE/err'.padStart(7)} ${'rmsSE/err'.padStart(9)}`;
  console.log(header);

  const rows: { spectrum: string; estimator: string; medianProducts: number; coverage: number; medianSeOverRmsError: number; rmsSeOverRmsError: number }[] = [];
  const report = (spectrum: string, estimator: string, runs: { estimate: number; se: number; products: number }[], trace: number) => {
    const rmsError = Math.sqrt(runs.reduce((s, r) => s + (r.estimate - trace) ** 2, 0) / runs.length);
    const covered = runs.filter((r) => Math.abs(r.estimate - trace) <= 2 * r.se).length / runs.length;
    const row = {
      spectrum,
      estimator,
      medianProducts: median(runs.map((r) => r.products)),
      coverage: covered,
      medianSeOverRmsError: median(runs.map((r) => r.se)) / rmsError,
      rmsSeOverRmsError: Math.sqrt(runs.reduce((s, r) => s + r.se ** 2, 0) / runs.length) / rmsError,
    };
    rows.push(row);
    console.log(
      `  ${spectrum.padEnd(14)} ${estimator.padEnd(48)} ${String(row.medianProducts).padStart(8)} ${(100 * covered).toFixed(1).padStart(7)}% ${row.medianSeOverRmsError.toFixed(2).padStart(7)} ${row.rmsSeOverRmsError.toFixed(2).padStart(9)}`,
    );
  };

  const started = performance.now();
  for (const [index, { name, eigenvalues }] of spectra.entries()) {
    const m = symmetricWithSpectrum(eigenvalues, 100 + index);
    const op: LinearOperator = denseOperator(m.matrix, m.n);
    let trace = 0;
    let frobenius = 0;
    let diagonal = 0;
    for (let i = 0; i < n; i++) {
      const d = m.matrix[i * n + i]!;
      trace += d;
      diagonal += d * d;
    }
    for (const x of m.matrix) frobenius += x * x;
    // the relative standard error of one Rademacher probe
    const perProbe = Math.sqrt(2 * (frobenius - diagonal)) / Math.abs(trace);

    for (const probes of probeTargets) {
      const target = perProbe / Math.sqrt(probes);
      const guarded: Run[] = [];
      const plainFrom2: Run[] = [];
      const plainFrom30: Run[] = [];
      for (let seed = 0; seed < seeds; seed++) {
        const r = await hutchinson(op, { probes: cap, targetRse: target, minProbes: 30, seed, blockSize: 8 });
        guarded.push({ estimate: r.estimate, se: r.standardError, products: r.samples.length });
        plainFrom2.push(plainStop(r.samples, target, 2));
        plainFrom30.push(plainStop(r.samples, target, 30));
      }
      const t = `target RSE ${target.toPrecision(2)}`;
      report(name, `Hutchinson ${t}, guarded, min 30`, guarded, trace);
      report(name, `Hutchinson ${t}, plain SE, from probe 2`, plainFrom2, trace);
      report(name, `Hutchinson ${t}, plain SE, min 30`, plainFrom30, trace);
    }
    for (const products of hppBudgets) {
      const runs: Run[] = [];
      for (let seed = 0; seed < seeds; seed++) {
        const r = await hutchPlusPlus(op, { products, seed, blockSize: products / 3 });
        runs.push({ estimate: r.estimate, se: r.standardError, products: r.products });
      }
      report(name, `Hutch++ ${products} products (${products / 3} residual probes)`, runs, trace);
    }
    for (const products of xtBudgets) {
      const loo: Run[] = [];
      const jack: Run[] = [];
      for (let seed = 0; seed < seeds; seed++) {
        const r = await xtrace(op, { products, seed, blockSize: products / 2 });
        loo.push({ estimate: r.estimate, se: r.standardError, products: r.products });
        jack.push({ estimate: r.estimate, se: r.jackknifeStandardError, products: r.products });
      }
      report(name, `XTrace ${products} products, leave-one-out SE`, loo, trace);
      report(name, `XTrace ${products} products, jackknife SE`, jack, trace);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`  ${seconds.toFixed(0)} s`);
  console.log(`  JSON ${JSON.stringify({ cpu: cpus()[0]?.model, seeds, n, seconds: Math.round(seconds), rows })}`);
}

interface Run {
  estimate: number;
  se: number;
  products: number;
}

/**
 * The stop a plain sample standard error would make on these samples: the first count k >= from
 * at which standardErrorOfMean(first k) <= target |mean of first k|, else all of them.
 */
function plainStop(samples: Float64Array, target: number, from: number): Run {
  let k = Math.min(from, samples.length);
  for (; k <= samples.length; k++) {
    const head = samples.subarray(0, k);
    const mean = head.reduce((a, b) => a + b, 0) / k;
    if (standardErrorOfMean(head) <= target * Math.abs(mean)) break;
  }
  k = Math.min(k, samples.length);
  const head = samples.subarray(0, k);
  return { estimate: head.reduce((a, b) => a + b, 0) / k, se: standardErrorOfMean(head), products: k };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}
