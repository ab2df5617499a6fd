/**
 * Kernel benchmarks: SGEMM at the shape that dominates ResNet-20 (64x576 by 576x2048) and the three
 * convolution kernels at every ResNet-20 layer shape with a CIFAR batch of 128. Prints medians and
 * GFLOP/s, and compares with the CPU's peak: nominal (cpuinfo MHz x 2 FMA pipes x lanes x 2) and
 * measured (a loop of independent FMAs).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { referenceKernels } from '../src/kernels/reference.js';
import { configureNative, loadNativeKernels, nativeFmaPeak, nativeInfo, type NativeInfo, type NativeSettings } from '../src/kernels/native.js';
import { convOutputSize, type ConvGeometry, type Kernels } from '../src/kernels/types.js';

function randomArray(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return a;
}

interface Timing {
  /** median wall-clock seconds */
  wall: number;
  /** median CPU seconds of the process: on a shared machine the better measure of single-thread speed */
  cpu: number;
}

/** Medians over at least `minRuns` runs and about `minSeconds`, after one warm-up. */
function measure(fn: () => void, minRuns = 7, minSeconds = 0.5): Timing {
  fn();
  const walls: number[] = [];
  const cpus: number[] = [];
  const start = performance.now();
  while (walls.length < minRuns || (performance.now() - start) / 1000 < minSeconds) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    walls.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1e6);
    if (walls.length >= 200) break;
  }
  const median = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  return { wall: median(walls), cpu: median(cpus) };
}

function cpuMHz(): number | undefined {
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return cpus()[0]?.speed;
  }
}

const lanes = { generic: 1, avx2: 8, avx512: 16 } as const;

interface Peak {
  nominal?: number;
  measured: number;
}

function fmt(x: number, digits = 1): string {
  return x.toFixed(digits).padStart(7);
}

function gemmRow(k: Kernels, label: string, M: number, N: number, K: number, peak: Peak | undefined, threads: number, tA = false, tB = false): void {
  const A = randomArray(M * K, 1);
  const B = randomArray(K * N, 2);
  const C = new Float32Array(M * N);
  const t = measure(() => k.sgemm(tA, tB, M, N, K, 1, A, B, 0, C), 5, 0.4);
  const gflops = (2 * M * N * K) / t.wall / 1e9;
  const pct = peak
    ? `  ${fmt((100 * gflops) / peak.measured, 0)}% of measured${peak.nominal ? `, ${fmt((100 * gflops) / peak.nominal, 0)}% of nominal` : ''} peak`
    : '';
  const cpu = threads === 1 ? `  (by CPU time ${fmt((2 * M * N * K) / t.cpu / 1e9)})` : '';
  console.log(`  ${label.padEnd(44)} ${fmt(t.wall * 1e3, 2)} ms ${fmt(gflops)} GFLOP/s${pct}${cpu}`);
}

interface Layer {
  name: string;
  count: number; // how many times ResNet-20 has this layer
  O: number;
  g: ConvGeometry;
}

function conv(name: string, count: number, C: number, O: number, H: number, k: number, s: number, p: number): Layer {
  return { name, count, O, g: { C, H, W: H, kh: k, kw: k, sh: s, sw: s, ph: p, pw: p } };
}

const resnet20: Layer[] = [
  conv('conv1     3->16 32x32 3x3 s1', 1, 3, 16, 32, 3, 1, 1),
  conv('layer1   16->16 32x32 3x3 s1', 6, 16, 16, 32, 3, 1, 1),
  conv('layer2.0 16->32 32x32 3x3 s2', 1, 16, 32, 32, 3, 2, 1),
  conv('shortcut 16->32 32x32 1x1 s2', 1, 16, 32, 32, 1, 2, 0),
  conv('layer2   32->32 16x16 3x3 s1', 5, 32, 32, 16, 3, 1, 1),
  conv('layer3.0 32->64 16x16 3x3 s2', 1, 32, 64, 16, 3, 2, 1),
  conv('shortcut 32->64 16x16 1x1 s2', 1, 32, 64, 16, 1, 2, 0),
  conv('layer3   64->64  8x8  3x3 s1', 5, 64, 64, 8, 3, 1, 1),
];

/** Median seconds of forward, backward-input and backward-weight for one layer and batch. */
function convTimes(k: Kernels, layer: Layer, N: number): [Timing, Timing, Timing] {
  const { g, O } = layer;
  const { Ho, Wo } = convOutputSize(g);
  const x = randomArray(N * g.C * g.H * g.W, 3);
  const w = randomArray(O * g.C * g.kh * g.kw, 4);
  const y = new Float32Array(N * O * Ho * Wo);
  const gy = randomArray(y.length, 5);
  const gx = new Float32Array(x.length);
  const gw = new Float32Array(w.length);
  return [
    measure(() => k.conv2dForward(x, w, y, N, O, g), 5, 0.3),
    measure(() => k.conv2dBackwardInput(gy, w, gx, N, O, g), 5, 0.3),
    measure(() => k.conv2dBackwardWeight(gy, x, gw, N, O, g), 5, 0.3),
  ];
}

function convTable(k: Kernels, N: number, layers: Layer[], threads: number): void {
  console.log(`  ${('layer (N=' + N + ')').padEnd(31)}   forward           backward input    backward weight   (median ms, GFLOP/s)`);
  let total = 0;
  let totalCpu = 0;
  for (const layer of layers) {
    const { Ho, Wo } = convOutputSize(layer.g);
    const flops = 2 * N * layer.O * layer.g.C * layer.g.kh * layer.g.kw * Ho * Wo;
    const t = convTimes(k, layer, N);
    total += layer.count * (t[0].wall + t[1].wall + t[2].wall);
    totalCpu += layer.count * (t[0].cpu + t[1].cpu + t[2].cpu);
    const cells = t.map((s) => `${fmt(s.wall * 1e3, 2)} ${fmt(flops / s.wall / 1e9)}`).join('   ');
    console.log(`  ${layer.name.padEnd(31)} ${cells}`);
  }
  if (layers.length === resnet20.length) {
    const cpu = threads === 1 ? ` (CPU time ${(totalCpu * 1e3).toFixed(1)} ms)` : '';
    console.log(`  all 19 ResNet-20 convolutions, forward + both backward: ${(total * 1e3).toFixed(1)} ms per batch of ${N}${cpu}`);
  }
}

export async function benchKernels(): Promise<void> {
  const loaded = loadNativeKernels();
  const native = loaded.kernels;
  const info: NativeInfo | undefined = nativeInfo();
  const mhz = cpuMHz();
  console.log(`kernels benchmark on ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} CPUs, cpuinfo ${mhz ?? '?'} MHz`);

  const peaks: Partial<Record<keyof typeof lanes, Peak>> = {};
  if (info) {
    for (const isa of ['generic', 'avx2', 'avx512'] as const) {
      if (lanes[isa] > lanes[info.bestIsa]) continue;
      const measured = Math.max(nativeFmaPeak(isa, 0.2), nativeFmaPeak(isa, 0.2), nativeFmaPeak(isa, 0.2));
      // Two FMA pipes per core on current x86 cores; the scalar loop is not an FMA instruction.
      const nominal = mhz && isa !== 'generic' ? (mhz / 1000) * 2 * lanes[isa] * 2 : undefined;
      peaks[isa] = { measured, nominal };
      console.log(
        `single-thread FMA peak ${isa.padEnd(7)}: measured ${fmt(measured)} GFLOP/s` +
          (nominal ? `, nominal ${fmt(nominal)} GFLOP/s (cpuinfo MHz x 2 pipes x ${lanes[isa]} lanes x 2)` : ''),
      );
    }
    if (info.blasConfig) console.log(`OpenBLAS: ${info.blasConfig}`);
  } else {
    console.log(`native kernels unavailable: ${loaded.reason}`);
  }

  const [M, N, K] = [64, 2048, 576];
  console.log(`\nSGEMM C(${M}x${N}) = A(${M}x${K}) B(${K}x${N}), median`);
  if (native && info) {
    const configs: (NativeSettings & { label: string; isa?: NativeInfo['isa'] })[] = [];
    for (const isa of ['avx512', 'avx2', 'generic'] as const) {
      if (lanes[isa] <= lanes[info.bestIsa]) configs.push({ label: `own ${isa}`, gemm: 'own', isa });
    }
    if (info.blas) configs.push({ label: 'OpenBLAS', gemm: 'blas', isa: info.bestIsa });
    const threadCounts = [...new Set([1, info.cpus])];
    for (const threads of threadCounts) {
      for (const c of configs) {
        const now = configureNative({ gemm: c.gemm, isa: c.isa, threads });
        const ownPeak = peaks[c.isa ?? now.isa];
        // OpenBLAS picks its own kernel, named in its config line: its AVX-512 ones (SkylakeX, Cooperlake,
        // SapphireRapids) are held to the AVX-512 peak, the others (Haswell, Zen) to the AVX2 one.
        const blasIsa = /SkylakeX|Cooperlake|SapphireRapids/i.test(info.blasConfig ?? '') ? 'avx512' : 'avx2';
        const peak = c.gemm === 'blas' ? peaks[blasIsa] ?? ownPeak : ownPeak;
        const scaled = peak && { measured: peak.measured * threads, nominal: peak.nominal && peak.nominal * threads };
        const label = `${c.label}${c.gemm === 'own' ? ` (${now.kernel})` : ''}, ${threads} thread${threads > 1 ? 's' : ''}`;
        gemmRow(native, label, M, N, K, scaled, threads);
      }
    }
    configureNative({ gemm: info.gemm, isa: info.isa, threads: info.threads });
    console.log('  transposed operands as the convolution backward passes use them (default settings):');
    gemmRow(native, `A^T B   (K=64)  576x1024x64`, 576, 1024, 64, undefined, info.threads, true, false);
    gemmRow(native, `A B^T   (K=2048) 64x576x2048`, 64, 576, 2048, undefined, info.threads, false, true);
  }
  gemmRow(referenceKernels, 'reference, 64x256x576 (smaller: it is slow)', 64, 256, 576, undefined, 1);

  if (native && info) {
    for (const threads of [...new Set([info.threads, 1])]) {
      for (const gemm of info.blas ? (['own', 'blas'] as const) : (['own'] as const)) {
        configureNative({ gemm, threads, isa: info.isa });
        console.log(`\nconvolutions, ResNet-20 shapes, ${native.description}`);
        convTable(native, 128, resnet20, threads);
      }
    }
    configureNative({ gemm: info.gemm, isa: info.isa, threads: info.threads });
  }
  console.log('\nconvolutions, reference kernels (N=4: they are slow)');
  convTable(referenceKernels, 4, resnet20.slice(1, 2).concat(resnet20.slice(7)), 1);
}
