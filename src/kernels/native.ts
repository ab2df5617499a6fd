import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { OptionError } from '../errors.js';
import { ISA_ORDER, resolveKernelChoice, type KernelCandidate, type KernelChoice, type NativeGemmBackend, type NativeIsa } from './kernelChoice.js';
import type { ConvGeometry, Kernels } from './types.js';

export type { KernelChoice, NativeGemmBackend, NativeIsa } from './kernelChoice.js';

/** What the addon reports about itself. */
export interface NativeInfo {
  gemm: NativeGemmBackend;
  /** Whether this build linked OpenBLAS. */
  blas: boolean;
  /** openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Haswell MAX_THREADS=64". */
  blasConfig?: string;
  isa: NativeIsa;
  bestIsa: NativeIsa;
  /** The own micro-kernels for the current instruction set, e.g. "AVX-512 8x32/12x32/16x16" or "AVX2/FMA 6x16". */
  kernel: string;
  threads: number;
  cpus: number;
  /** see KernelCandidate.convRows */
  convRows: boolean;
}

export interface NativeSettings {
  gemm?: NativeGemmBackend;
  isa?: NativeIsa;
  threads?: number;
  convRows?: boolean;
}

interface Addon {
  sgemm: Kernels['sgemm'];
  im2col(x: Float32Array, g: ConvGeometry, col: Float32Array): void;
  col2im(col: Float32Array, g: ConvGeometry, x: Float32Array): void;
  conv2dForward: Kernels['conv2dForward'];
  conv2dBackwardInput: Kernels['conv2dBackwardInput'];
  conv2dBackwardWeight: Kernels['conv2dBackwardWeight'];
  binary: Kernels['binary'];
  muladd: Kernels['muladd'];
  reduce: Kernels['reduce'];
  affineBackward: Kernels['affineBackward'];
  affineBackwardTangent: Kernels['affineBackwardTangent'];
  gramSchmidt: Kernels['gramSchmidt'];
  info(): NativeInfo;
  configure(s: NativeSettings): NativeInfo;
  fmaPeak(isa: NativeIsa, seconds: number): number;
  timeWorkload(reps: number): number;
}

// Two levels below the package root both as src/kernels/ (tests, tsx) and as dist/kernels/ (published).
const addonPath = fileURLToPath(new URL('../../build/Release/hesse_native.node', import.meta.url));

let addon: Addon | undefined;
let loadError: string | undefined;
let choice: KernelChoice | undefined;

/**
 * The configurations worth measuring here, the static default first: the best instruction set
 * with the GEMM the addon picked itself, then the lower instruction sets (on some AVX-512 CPUs
 * the wider units clock down, so AVX2 can win), then OpenBLAS where it is linked.
 */
function candidatesFor(info: NativeInfo): KernelCandidate[] {
  const out: KernelCandidate[] = [{ isa: info.bestIsa, gemm: info.gemm, convRows: true }];
  const add = (c: KernelCandidate) => {
    if (!out.some((o) => o.isa === c.isa && o.gemm === c.gemm && o.convRows === c.convRows)) out.push(c);
  };
  for (const isa of [...ISA_ORDER].reverse()) {
    if (ISA_ORDER.indexOf(isa) > ISA_ORDER.indexOf(info.bestIsa) || isa === 'generic') continue;
    add({ isa, gemm: 'own', convRows: true });
    add({ isa, gemm: 'own', convRows: false });
  }
  if (info.blas) add({ isa: info.bestIsa, gemm: 'blas', convRows: true });
  if (info.bestIsa === 'generic') add({ isa: 'generic', gemm: 'own', convRows: true });
  return out;
}

function load(): Addon | undefined {
  if (addon || loadError) return addon;
  if (!existsSync(addonPath)) {
    loadError = 'build/Release/hesse_native.node was not built';
    return undefined;
  }
  // OpenBLAS starts its thread pool when the library loads; hesse runs it single-threaded (see
  // native/config.c), so keep it from spawning threads that would only sleep.
  const hadBlasThreads = 'OPENBLAS_NUM_THREADS' in process.env;
  if (!hadBlasThreads) process.env.OPENBLAS_NUM_THREADS = '1';
  let a: Addon;
  try {
    a = createRequire(import.meta.url)(addonPath) as Addon;
  } catch (err) {
    loadError = `loading build/Release/hesse_native.node failed: ${err instanceof Error ? err.message : String(err)}`;
    return undefined;
  } finally {
    if (!hadBlasThreads) delete process.env.OPENBLAS_NUM_THREADS;
  }
  // A bad HESSE_* value is the user's to fix, so it throws (every time) instead of falling back.
  const info = a.info();
  const env = settingsFromEnv(info);
  if (env.isa !== undefined || env.gemm !== undefined) {
    choice = { isa: env.isa ?? info.isa, gemm: env.gemm ?? info.gemm, convRows: true, source: 'environment', cpu: cpus()[0]?.model ?? 'unknown CPU' };
  } else {
    // measured once per machine and build, then read back: the same machine keeps the same kernels, and so the same numbers
    choice = resolveKernelChoice({
      addonPath,
      bestIsa: info.bestIsa,
      blas: info.blas,
      candidates: candidatesFor(info),
      time: (c) => {
        a.configure({ isa: c.isa, gemm: c.gemm, convRows: c.convRows });
        return a.timeWorkload(5);
      },
    });
  }
  a.configure({ ...env, isa: choice.isa, gemm: choice.gemm, convRows: choice.convRows });
  addon = a;
  return addon;
}

/** HESSE_GEMM (own|blas), HESSE_THREADS (a positive integer) and HESSE_ISA (generic|avx2|avx512). */
function settingsFromEnv(info: NativeInfo): NativeSettings {
  const s: NativeSettings = {};
  const gemm = process.env.HESSE_GEMM;
  if (gemm !== undefined && gemm !== '') {
    if (gemm !== 'own' && gemm !== 'blas') throw new OptionError(`HESSE_GEMM must be 'own' or 'blas', got '${gemm}'`);
    if (gemm === 'blas' && !info.blas) {
      throw new OptionError(
        "HESSE_GEMM=blas, but the native addon was built without OpenBLAS: install OpenBLAS (e.g. libopenblas-dev) and run 'npm rebuild hesse', or unset HESSE_GEMM",
      );
    }
    s.gemm = gemm;
  }
  const threads = process.env.HESSE_THREADS;
  if (threads !== undefined && threads !== '') {
    const n = Number(threads);
    if (!Number.isInteger(n) || n < 1 || n > 64) {
      throw new OptionError(`HESSE_THREADS must be an integer from 1 to 64, got '${threads}'`);
    }
    s.threads = n;
  }
  const isa = process.env.HESSE_ISA;
  if (isa !== undefined && isa !== '') {
    const order: NativeIsa[] = ['generic', 'avx2', 'avx512'];
    if (!order.includes(isa as NativeIsa)) throw new OptionError(`HESSE_ISA must be 'generic', 'avx2' or 'avx512', got '${isa}'`);
    if (order.indexOf(isa as NativeIsa) > order.indexOf(info.bestIsa)) {
      throw new OptionError(`HESSE_ISA=${isa}, but this CPU supports at most '${info.bestIsa}'`);
    }
    s.isa = isa as NativeIsa;
  }
  return s;
}

function describe(a: Addon): string {
  const i = a.info();
  const threads = `${i.threads} thread${i.threads === 1 ? '' : 's'}`;
  if (i.gemm === 'blas') {
    const version = /OpenBLAS\s+[\d.]+/.exec(i.blasConfig ?? '')?.[0] ?? 'OpenBLAS';
    return `native (${version}, ${threads})`;
  }
  return `native (own ${i.kernel} kernel, ${threads})`;
}

function makeKernels(a: Addon): Kernels {
  return {
    name: 'native',
    get description() {
      return describe(a);
    },
    sgemm: a.sgemm,
    im2col: a.im2col,
    col2im: a.col2im,
    conv2dForward: a.conv2dForward,
    conv2dBackwardInput: a.conv2dBackwardInput,
    conv2dBackwardWeight: a.conv2dBackwardWeight,
    binary: a.binary,
    muladd: a.muladd,
    reduce: a.reduce,
    affineBackward: a.affineBackward,
    affineBackwardTangent: a.affineBackwardTangent,
    gramSchmidt: a.gramSchmidt,
  };
}

let kernels: Kernels | undefined;

/** The native kernels, or why they are unavailable (not built, or the addon failed to load). */
export function loadNativeKernels(): { kernels?: Kernels; reason?: string } {
  const a = load();
  if (!a) return { reason: loadError };
  kernels ??= makeKernels(a);
  return { kernels };
}

/** How the native kernels' instruction set and GEMM were chosen, or undefined without the addon. */
export function nativeKernelChoice(): KernelChoice | undefined {
  return load() ? choice : undefined;
}

/** The addon's state, or undefined when it is not available. */
export function nativeInfo(): NativeInfo | undefined {
  return load()?.info();
}

/** The GEMM the native kernels use now, or undefined without the addon. */
export function nativeGemmBackend(): NativeGemmBackend | undefined {
  return load()?.info().gemm;
}

/**
 * Changes the addon's process-wide settings (for tests and benchmarks; users set HESSE_GEMM,
 * HESSE_THREADS and HESSE_ISA). Returns the settings now in force.
 */
export function configureNative(settings: NativeSettings): NativeInfo {
  const a = load();
  if (!a) throw new OptionError(`the native kernels are unavailable: ${loadError}`);
  return a.configure(settings);
}

/** Single-thread GFLOP/s of independent FMAs with that instruction set: the ceiling for the GEMM. */
export function nativeFmaPeak(isa: NativeIsa, seconds = 0.2): number {
  const a = load();
  if (!a) throw new OptionError(`the native kernels are unavailable: ${loadError}`);
  return a.fmaPeak(isa, seconds);
}
