import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** Which SGEMM the addon runs: OpenBLAS's cblas_sgemm or hesse's own blocked kernel. */
export type NativeGemmBackend = 'own' | 'blas';
/** Instruction set of the own kernel: runtime-detected, lowerable for tests. */
export type NativeIsa = 'generic' | 'avx2' | 'avx512';

export const ISA_ORDER: readonly NativeIsa[] = ['generic', 'avx2', 'avx512'];

/** One configuration the addon can run in. */
export interface KernelCandidate {
  isa: NativeIsa;
  gemm: NativeGemmBackend;
  /**
   * Stride-1 convolutions whose output rows are whole strips read one padded copy of the image at
   * shifts (unaligned loads, a third of the copying) rather than kw aligned planes: which is
   * faster depends on the core.
   */
  convRows: boolean;
}

/**
 * The kernels this machine runs, and where that came from:
 * - 'measured': timed on this machine now (no stored choice fitted it), then stored;
 * - 'stored': read back from an earlier measurement on this machine with this build;
 * - 'default': the static rule (best instruction set, own GEMM), when measuring is switched off
 *   (HESSE_KERNEL_CHOICE=default) or nothing could be measured;
 * - 'environment': HESSE_ISA or HESSE_GEMM said what to run.
 */
export interface KernelChoice extends KernelCandidate {
  source: 'measured' | 'stored' | 'default' | 'environment';
  /** where the choice is stored (absent when it could not be written anywhere) */
  file?: string;
  /** milliseconds of the measurement workload per candidate, `isa/gemm[/planes]` keys */
  measuredMs?: Record<string, number>;
  measuredAt?: string;
  cpu: string;
}

interface StoredFile {
  format: 'hesse-kernel-choice';
  version: 2;
  /** by machine and build signature, so one install shared by several machines keeps one choice each */
  entries: Record<string, { isa: NativeIsa; gemm: NativeGemmBackend; convRows: boolean; measuredMs: Record<string, number>; measuredAt: string; cpu: string }>;
}

/** What identifies "the same machine and the same kernels": the CPU and the addon binary. */
export function machineSignature(addonPath: string, bestIsa: NativeIsa, blas: boolean): string {
  let build = 'unknown-build';
  try {
    build = createHash('sha256').update(readFileSync(addonPath)).digest('hex').slice(0, 16);
  } catch {
    // an unreadable addon cannot have been loaded; the signature only needs to be stable
  }
  return `${cpus()[0]?.model ?? 'unknown CPU'} | ${cpus().length} CPUs | best ${bestIsa}${blas ? ' | OpenBLAS' : ''} | build ${build}`;
}

/** Where the choice is kept: HESSE_KERNEL_CHOICE_FILE, else beside the addon, else the user's cache. */
export function choiceFiles(addonPath: string): string[] {
  const explicit = process.env.HESSE_KERNEL_CHOICE_FILE;
  if (explicit) return [explicit];
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return [join(dirname(addonPath), 'kernel-choice.json'), join(cache, 'hesse', 'kernel-choice.json')];
}

function readStored(file: string): StoredFile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as StoredFile;
    return parsed && parsed.format === 'hesse-kernel-choice' && parsed.version === 2 && typeof parsed.entries === 'object' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function validEntry(e: unknown, candidates: readonly KernelCandidate[]): e is StoredFile['entries'][string] {
  const x = e as StoredFile['entries'][string] | undefined;
  return !!x && candidates.some((c) => c.isa === x.isa && c.gemm === x.gemm && c.convRows === x.convRows);
}

/** Writes the file through a temporary name, so a reader never sees half of it. */
function store(file: string, signature: string, entry: StoredFile['entries'][string]): boolean {
  try {
    const existing = readStored(file) ?? { format: 'hesse-kernel-choice', version: 2, entries: {} };
    existing.entries[signature] = entry;
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(existing, null, 2) + '\n');
    renameSync(tmp, file);
    return true;
  } catch {
    return false;
  }
}

export const candidateKey = (c: KernelCandidate): string => `${c.isa}/${c.gemm}${c.convRows ? '' : '/planes'}`;

/**
 * Times every candidate on the workload, rounds interleaved so a machine whose load drifts moves
 * them alike, and takes each one's median over the rounds: a typical run, not a lucky one (on a
 * shared core, the best of a few runs can favour a kernel whose usual runs are slower). The static
 * default (the first candidate) wins unless another is at least 5% faster: a choice this close is
 * noise, and the default keeps numbers the same across machines of one kind.
 */
export function measureChoice(candidates: readonly KernelCandidate[], time: (c: KernelCandidate) => number, rounds = 5): { best: KernelCandidate; measuredMs: Record<string, number> } {
  const runs = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const c of candidates) {
      const key = candidateKey(c);
      runs.set(key, [...(runs.get(key) ?? []), time(c) * 1000]);
    }
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const best = new Map([...runs].map(([key, xs]) => [key, median(xs)]));
  const measuredMs = Object.fromEntries(best);
  let chosen = candidates[0]!;
  for (const c of candidates.slice(1)) if (best.get(candidateKey(c))! < 0.95 * best.get(candidateKey(chosen))!) chosen = c;
  return { best: chosen, measuredMs };
}

/**
 * The stored choice for this machine and build, or a new measurement (stored where possible).
 * `candidates[0]` is the static default.
 */
export function resolveKernelChoice(o: {
  addonPath: string;
  bestIsa: NativeIsa;
  blas: boolean;
  candidates: readonly KernelCandidate[];
  time: (c: KernelCandidate) => number;
}): KernelChoice {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const fallback = o.candidates[0]!;
  if (process.env.HESSE_KERNEL_CHOICE === 'default' || o.candidates.length < 2) return { ...fallback, source: 'default', cpu };
  const signature = machineSignature(o.addonPath, o.bestIsa, o.blas);
  const files = choiceFiles(o.addonPath);
  for (const file of files) {
    const e = readStored(file)?.entries[signature];
    if (validEntry(e, o.candidates)) return { isa: e.isa, gemm: e.gemm, convRows: e.convRows, source: 'stored', file, measuredMs: e.measuredMs, measuredAt: e.measuredAt, cpu };
  }
  let measured: ReturnType<typeof measureChoice>;
  try {
    measured = measureChoice(o.candidates, o.time);
  } catch {
    return { ...fallback, source: 'default', cpu };
  }
  const entry = { isa: measured.best.isa, gemm: measured.best.gemm, convRows: measured.best.convRows, measuredMs: measured.measuredMs, measuredAt: new Date().toISOString(), cpu };
  const file = files.find((f) => store(f, signature, entry));
  return { ...measured.best, source: 'measured', ...(file ? { file } : {}), measuredMs: measured.measuredMs, measuredAt: entry.measuredAt, cpu };
}
