import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { measureChoice, resolveKernelChoice, type KernelCandidate } from '../../src/kernels/kernelChoice.js';

const candidates: KernelCandidate[] = [
  { isa: 'avx512', gemm: 'own', convRows: true },
  { isa: 'avx2', gemm: 'own', convRows: true },
];
const saved = { ...process.env };
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hesse-choice-'));
  process.env.HESSE_KERNEL_CHOICE_FILE = join(dir, 'choice.json');
  delete process.env.HESSE_KERNEL_CHOICE;
});

afterEach(() => {
  for (const key of ['HESSE_KERNEL_CHOICE_FILE', 'HESSE_KERNEL_CHOICE', 'HESSE_ISA', 'HESSE_GEMM']) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
  rmSync(dir, { recursive: true, force: true });
});

/** A timer that says candidate `isa` takes `ms[isa]` milliseconds, and counts its calls. */
function fakeTimer(ms: Record<string, number>) {
  const t = vi.fn((c: KernelCandidate) => ms[c.isa]! / 1000);
  return t;
}

const addonPath = join(process.cwd(), 'build', 'Release', 'hesse_native.node');

describe('the measured kernel choice', () => {
  it('keeps the static default unless another candidate is at least 5% faster, by its median time over the rounds', () => {
    expect(measureChoice(candidates, fakeTimer({ avx512: 10, avx2: 9.6 })).best).toEqual(candidates[0]);
    expect(measureChoice(candidates, fakeTimer({ avx512: 10, avx2: 9.4 })).best).toEqual(candidates[1]);
    // the median of five rounds counts: one slow round of the default does not lose it the choice
    let calls = 0;
    const noisy = (c: KernelCandidate) => (c.isa === 'avx512' ? (calls++ === 0 ? 0.05 : 0.01) : 0.0102);
    const r = measureChoice(candidates, noisy);
    expect(r.best).toEqual(candidates[0]);
    expect(r.measuredMs['avx512/own']).toBeCloseTo(10, 6);
    // nor does one lucky round win it for another (its best time would: 9 ms < 0.95 x 10 ms)
    let other = 0;
    const lucky = (c: KernelCandidate) => (c.isa === 'avx512' ? 0.01 : other++ === 2 ? 0.009 : 0.0104);
    const l = measureChoice(candidates, lucky);
    expect(l.best).toEqual(candidates[0]);
    expect(l.measuredMs['avx2/own']).toBeCloseTo(10.4, 6);
    expect(other).toBe(5);
  });

  it('measures once, stores the choice, and reads it back on the same machine and build', () => {
    const time = fakeTimer({ avx512: 20, avx2: 10 });
    const first = resolveKernelChoice({ addonPath, bestIsa: 'avx512', blas: false, candidates, time });
    expect(first).toMatchObject({ isa: 'avx2', gemm: 'own', source: 'measured', file: process.env.HESSE_KERNEL_CHOICE_FILE });
    expect(time).toHaveBeenCalledTimes(10);
    const again = resolveKernelChoice({ addonPath, bestIsa: 'avx512', blas: false, candidates, time: fakeTimer({ avx512: 1, avx2: 100 }) });
    expect(again).toMatchObject({ isa: 'avx2', gemm: 'own', source: 'stored' });
    expect(again.measuredMs).toEqual(first.measuredMs);
    // another machine (here: another best instruction set) sharing the file gets its own entry
    const other = resolveKernelChoice({ addonPath, bestIsa: 'avx2', blas: false, candidates: [candidates[1]!, { isa: 'generic', gemm: 'own', convRows: true }], time: fakeTimer({ avx2: 5, generic: 50 }) });
    expect(other).toMatchObject({ isa: 'avx2', source: 'measured' });
    const stored = JSON.parse(readFileSync(process.env.HESSE_KERNEL_CHOICE_FILE!, 'utf8')) as { entries: Record<string, unknown> };
    expect(Object.keys(stored.entries)).toHaveLength(2);
  });

  it('a corrupt file or a stored choice this machine cannot run is measured again; HESSE_KERNEL_CHOICE=default skips measuring', () => {
    writeFileSync(process.env.HESSE_KERNEL_CHOICE_FILE!, '{ not json');
    const time = fakeTimer({ avx512: 10, avx2: 20 });
    expect(resolveKernelChoice({ addonPath, bestIsa: 'avx512', blas: false, candidates, time })).toMatchObject({ isa: 'avx512', source: 'measured' });
    // the entry now names avx512; a machine whose candidates lack it must not take it
    const onlyAvx2 = [{ isa: 'avx2', gemm: 'own', convRows: true }, { isa: 'generic', gemm: 'own', convRows: true }] as KernelCandidate[];
    expect(resolveKernelChoice({ addonPath, bestIsa: 'avx512', blas: false, candidates: onlyAvx2, time: fakeTimer({ avx2: 10, generic: 30 }) })).toMatchObject({ isa: 'avx2', source: 'measured' });
    process.env.HESSE_KERNEL_CHOICE = 'default';
    const none = fakeTimer({ avx512: 10, avx2: 1 });
    expect(resolveKernelChoice({ addonPath, bestIsa: 'avx512', blas: false, candidates, time: none })).toMatchObject({ isa: 'avx512', source: 'default' });
    expect(none).not.toHaveBeenCalled();
  });
});
