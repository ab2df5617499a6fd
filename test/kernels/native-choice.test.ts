import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { candidateKey } from '../../src/kernels/kernelChoice.js';

const saved = { ...process.env };
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hesse-choice-'));
  process.env.HESSE_KERNEL_CHOICE_FILE = join(dir, 'choice.json');
  for (const key of ['HESSE_KERNEL_CHOICE', 'HESSE_ISA', 'HESSE_GEMM']) delete process.env[key];
});

afterEach(() => {
  for (const key of ['HESSE_KERNEL_CHOICE_FILE', 'HESSE_KERNEL_CHOICE', 'HESSE_ISA', 'HESSE_GEMM']) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
  rmSync(dir, { recursive: true, force: true });
});

/** The rule the choice follows: the first (static default) unless a later one is at least 5% faster than the current pick. */
function expectedPick(ms: Record<string, number>): string {
  const keys = Object.keys(ms);
  let pick = keys[0]!;
  for (const k of keys.slice(1)) if (ms[k]! < 0.95 * ms[pick]!) pick = k;
  return pick;
}

describe('the native kernels on this machine', () => {
  it('apply the choice they measured, store it, and report it in kernelsInfo(); HESSE_ISA overrides it', async () => {
    vi.resetModules();
    const index = await import('../../src/kernels/index.js');
    const info = index.kernelsInfo();
    if (info.name !== 'native') throw new Error(`the native addon is not built: ${info.notice}`);
    const choice = info.native!.choice;
    expect(choice.source).toBe('measured');
    expect(info.native!.isa).toBe(choice.isa);
    expect(info.native!.gemm).toBe(choice.gemm);
    expect(candidateKey(choice)).toBe(expectedPick(choice.measuredMs!));
    expect(info.native!.convRows).toBe(choice.convRows);
    // every instruction set this CPU runs (but the portable one, where a vector one exists) was timed
    const order = ['generic', 'avx2', 'avx512'];
    const runnable = order.filter((isa, i) => i <= order.indexOf(info.native!.bestIsa) && (isa !== 'generic' || info.native!.bestIsa === 'generic'));
    for (const isa of runnable) expect(Object.keys(choice.measuredMs!)).toContain(`${isa}/own`);
    const stored = JSON.parse(readFileSync(process.env.HESSE_KERNEL_CHOICE_FILE!, 'utf8'));
    expect(Object.values(stored.entries)).toEqual([expect.objectContaining({ isa: choice.isa, gemm: choice.gemm, convRows: choice.convRows })]);

    // a second load on the same machine reads it back instead of measuring
    vi.resetModules();
    const again = (await import('../../src/kernels/index.js')).kernelsInfo();
    expect(again.native!.choice).toMatchObject({ source: 'stored', isa: choice.isa, gemm: choice.gemm });

    process.env.HESSE_ISA = 'generic';
    vi.resetModules();
    const forced = (await import('../../src/kernels/index.js')).kernelsInfo();
    expect(forced.native).toMatchObject({ isa: 'generic', choice: { source: 'environment', isa: 'generic' } });
  });
});
