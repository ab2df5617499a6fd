import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { EngineFigures } from './engine.js';
import { envInt } from './stats.js';

export interface TorchFigures {
  torch: string;
  batch: number;
  threads: number;
  forward_s: number;
  grad_s: number;
  hvp_cached_graph_s: number;
  hvp_from_scratch_s: number;
  /** the Python process's peak resident memory */
  peak_rss_mib: number;
}

/** Runs a Python script and adds its peak resident memory (getrusage) to the JSON line it prints last. */
const WITH_PEAK = [
  'import json, resource, runpy, sys',
  'sys.argv = sys.argv[1:]',
  'runpy.run_path(sys.argv[0], run_name="__main__")',
  'print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))',
].join('\n');

/** The last two JSON lines of a Python run under WITH_PEAK, merged. */
export function pythonWithPeak(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const out = execFileSync('/usr/bin/python3', ['-c', WITH_PEAK, script, ...args], { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  const lines = out.trim().split('\n');
  return { ...JSON.parse(lines.at(-2)!), ...JSON.parse(lines.at(-1)!) };
}

export function anchor(name: string): string {
  return fileURLToPath(new URL(`../../shared/anchors/${name}`, import.meta.url));
}

export function torchAvailable(): boolean {
  if (!existsSync('/usr/bin/python3')) return false;
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * PyTorch on the same ResNet-20 definition and batch size (../shared/anchors/torch_hvp_bench.py):
 * forward, gradient and PyHessian-style Hessian-vector products, and the process's peak memory.
 * Needs Debian's python3-torch (apt-get install python3-torch); returns undefined without it.
 */
export function torchFigures(batch: number, threads = 2): TorchFigures | undefined {
  const script = anchor('torch_hvp_bench.py');
  if (!existsSync(script) || !torchAvailable()) return undefined;
  return pythonWithPeak(script, ['--batch', String(batch), '--threads', String(threads), '--n', '5']) as unknown as TorchFigures;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length;
  return m % 2 ? s[(m - 1) / 2]! : (s[m / 2 - 1]! + s[m / 2]!) / 2;
}

/**
 * hesse and PyTorch side by side, each in a fresh process, in HESSE_BENCH_PAIRS pairs (default
 * 3) run one after the other: the ratios are taken pair by pair and their medians printed, so a
 * machine whose load drifts moves both sides of a pair alike.
 */
export async function benchTorch(engineProcess: () => EngineFigures): Promise<void> {
  const batch = envInt('HESSE_BENCH_BATCH', 128);
  const threads = envInt('HESSE_BENCH_TORCH_THREADS', 2);
  const pairs = envInt('HESSE_BENCH_PAIRS', 3);
  if (!torchAvailable() || !existsSync(anchor('torch_hvp_bench.py'))) {
    console.log('\nPyTorch: not available (apt-get install python3-torch to compare)');
    return;
  }
  console.log(`\nhesse against PyTorch on ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} CPUs): ResNet-20, batch ${batch}, eval-mode BN, ${threads} threads each, ${pairs} pairs of fresh processes`);
  const rows: { ours: EngineFigures; t: TorchFigures }[] = [];
  for (let p = 0; p < pairs; p++) {
    const ours = engineProcess();
    const t = torchFigures(batch, threads)!;
    rows.push({ ours, t });
    console.log(`  pair ${p + 1}: hesse ${JSON.stringify(ours)}`);
    console.log(`          PyTorch ${JSON.stringify(t)}`);
  }
  const t0 = rows[0]!.t;
  console.log(`\n  PyTorch ${t0.torch}, medians over the pairs (hesse / PyTorch below 1 means hesse is faster):`);
  const line = (what: string, oursMs: (r: (typeof rows)[number]) => number, torchMs: (r: (typeof rows)[number]) => number) => {
    const o = median(rows.map(oursMs)), t = median(rows.map(torchMs)), ratio = median(rows.map((r) => oursMs(r) / torchMs(r)));
    console.log(`  ${what.padEnd(40)} hesse ${o.toFixed(0).padStart(6)} ms   PyTorch ${t.toFixed(0).padStart(6)} ms   hesse/PyTorch ${ratio.toFixed(2)}`);
  };
  line('forward', (r) => r.ours.forward_ms, (r) => r.t.forward_s * 1000);
  line('gradient', (r) => r.ours.grad_ms, (r) => r.t.grad_s * 1000);
  line('H·v (PyHessian: cached graph)', (r) => r.ours.hvp_ms, (r) => r.t.hvp_cached_graph_s * 1000);
  line('H·v from scratch (graph + product)', (r) => r.ours.primal_ms + r.ours.hvp_ms, (r) => r.t.hvp_from_scratch_s * 1000);
  console.log(`  ${'block of 8 / (8 × single H·v), hesse'.padEnd(40)} ${median(rows.map((r) => r.ours.block8_ms / (8 * r.ours.hvp_ms))).toFixed(2)}`);
  const mem = (f: (r: (typeof rows)[number]) => number) => median(rows.map(f)).toFixed(0);
  console.log(`  ${'peak resident memory'.padEnd(40)} hesse ${mem((r) => r.ours.peak_rss_mib)} MiB (${mem((r) => r.ours.peak_rss_block8_mib)} MiB with the block of 8)   PyTorch ${mem((r) => r.t.peak_rss_mib)} MiB`);
  console.log(`  JSON ${JSON.stringify({ cpu: cpus()[0]?.model, pairs: rows })}`);
}
