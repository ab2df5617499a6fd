import type { Kernels } from './types.js';

/** Placeholder until the addon lands: reports that no native kernels are built. */
export function loadNativeKernels(): { kernels?: Kernels; reason?: string } {
  return { reason: 'the native addon is not built yet' };
}
