import { referenceKernels } from './reference.js';
import { loadNativeKernels } from './native.js';
import type { Kernels } from './types.js';

export * from './types.js';
export { referenceKernels } from './reference.js';

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

/** Which kernel set is active, and why when it is not the native one. */
export function kernelsInfo(): { name: Kernels['name']; description: string; notice?: string } {
  const k = kernels();
  return notice ? { name: k.name, description: k.description, notice } : { name: k.name, description: k.description };
}

/** For tests and benchmarks: force a kernel set (undefined returns to automatic selection). */
export function setKernels(k: Kernels | undefined): void {
  active = k;
}
