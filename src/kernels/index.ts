import { referenceKernels } from './reference.js';
import { loadNativeKernels, nativeInfo, nativeKernelChoice, type KernelChoice, type NativeInfo } from './native.js';
import type { Kernels } from './types.js';

export * from './types.js';
export { gramSchmidtAny, referenceKernels } from './reference.js';

let active: Kernels | undefined;
let notice: string | undefined;

/**
 * The kernels in use: the native addon when it is built and HESSE_KERNELS is not 'reference',
 * otherwise the reference kernels. Falling back says so once on stderr.
 */
export function kernels(): Kernels {
  if (active) return active;
  const wanted = process.env.HESSE_KERNELS ?? 'native';
  if (wanted !== 'native' && wanted !== 'reference') {
    throw new Error(`HESSE_KERNELS must be 'native' or 'reference', got '${wanted}'`);
  }
  if (wanted === 'reference') {
    active = referenceKernels;
    return active;
  }
  const loaded = loadNativeKernels();
  if (loaded.kernels) {
    active = loaded.kernels;
  } else {
    active = referenceKernels;
    notice = `hesse: native kernels unavailable (${loaded.reason}); using the reference kernels, which are much slower. Reinstall with a C compiler (npm rebuild hesse) to build them.`;
    process.stderr.write(notice + '\n');
  }
  return active;
}

export interface KernelsInfo {
  name: Kernels['name'];
  description: string;
  /** why the native kernels are not in use */
  notice?: string;
  /** with the native kernels: what they run now and how that was chosen (measured, stored, ...) */
  native?: Pick<NativeInfo, 'isa' | 'bestIsa' | 'gemm' | 'kernel' | 'threads' | 'cpus' | 'convRows'> & { choice: KernelChoice };
}

/** Which kernel set is active, why when it is not the native one, and how the native one was chosen. */
export function kernelsInfo(): KernelsInfo {
  const k = kernels();
  const out: KernelsInfo = { name: k.name, description: k.description };
  if (notice) out.notice = notice;
  const info = k.name === 'native' ? nativeInfo() : undefined;
  const choice = info ? nativeKernelChoice() : undefined;
  if (info && choice) out.native = { isa: info.isa, bestIsa: info.bestIsa, gemm: info.gemm, kernel: info.kernel, threads: info.threads, cpus: info.cpus, convRows: info.convRows, choice };
  return out;
}

/**
 * What a results file records of the kernels: their description and, with the native kernels, the
 * configuration chosen and how (the file it is stored in stays out: it is a path on this machine).
 */
export function kernelsForResults(): { kernels: string; kernelChoice?: Omit<KernelChoice, 'file'> } {
  const info = kernelsInfo();
  if (!info.native) return { kernels: info.description };
  const { file: _file, ...choice } = info.native.choice;
  return { kernels: info.description, kernelChoice: choice };
}

/** For tests and benchmarks: force a kernel set (undefined returns to automatic selection). */
export function setKernels(k: Kernels | undefined): void {
  active = k;
}
