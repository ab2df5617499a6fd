import { afterEach, describe, expect, it, vi } from 'vitest';

// Each test loads fresh copies of the kernel modules, so the environment is read again.
async function freshIndex() {
  vi.resetModules();
  return import('../../src/kernels/index.js');
}

async function freshNative() {
  vi.resetModules();
  const native = await import('../../src/kernels/native.js');
  const { OptionError } = await import('../../src/errors.js');
  return { ...native, OptionError };
}

const saved = { ...process.env };

afterEach(() => {
  for (const key of ['HESSE_KERNELS', 'HESSE_GEMM', 'HESSE_THREADS', 'HESSE_ISA']) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

describe('kernel selection', () => {
  it('HESSE_KERNELS=reference selects the reference kernels', async () => {
    process.env.HESSE_KERNELS = 'reference';
    const { kernels, kernelsInfo } = await freshIndex();
    expect(kernels().name).toBe('reference');
    expect(kernelsInfo()).toEqual({ name: 'reference', description: 'reference (plain TypeScript)' });
  });

  it('selects the native kernels by default, and an unknown HESSE_KERNELS throws', async () => {
    delete process.env.HESSE_KERNELS;
    const index = await freshIndex();
    expect(index.kernels().name).toBe('native');
    expect(index.kernelsInfo().notice).toBeUndefined();
    process.env.HESSE_KERNELS = 'fast';
    const again = await freshIndex();
    expect(() => again.kernels()).toThrow(/HESSE_KERNELS must be 'native' or 'reference'/);
  });

  it('HESSE_GEMM and HESSE_THREADS configure the addon when it loads', async () => {
    process.env.HESSE_GEMM = 'own';
    process.env.HESSE_THREADS = '1';
    const native = await freshNative();
    const k = native.loadNativeKernels().kernels!;
    expect(native.nativeGemmBackend()).toBe('own');
    expect(k.description).toMatch(/^native \(own .* kernel, 1 thread\)$/);
    expect(native.nativeInfo()!.threads).toBe(1);
  });

  it('bad HESSE_GEMM, HESSE_THREADS or HESSE_ISA values throw an OptionError that names the variable', async () => {
    for (const [key, value, message] of [
      ['HESSE_GEMM', 'mkl', /HESSE_GEMM must be 'own' or 'blas', got 'mkl'/],
      ['HESSE_THREADS', 'two', /HESSE_THREADS must be an integer from 1 to 64, got 'two'/],
      ['HESSE_THREADS', '0', /HESSE_THREADS must be an integer/],
      ['HESSE_ISA', 'neon', /HESSE_ISA must be 'generic', 'avx2' or 'avx512'/],
    ] as const) {
      process.env[key] = value;
      const native = await freshNative();
      expect(() => native.loadNativeKernels()).toThrow(native.OptionError);
      expect(() => native.loadNativeKernels()).toThrow(message);
      delete process.env[key];
    }
  });
});
