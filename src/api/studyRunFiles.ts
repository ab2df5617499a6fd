/**
 * The files of one study run, all in its folder (runs/ID/ of the study folder), each written
 * atomically so that a run killed at any moment leaves a state it can continue from:
 *
 * - checkpoint.safetensors: the training state after the last finished epoch (weights, BN
 *   buffers, momentum, position, history: io/trainCheckpoint.ts); a stop mid-epoch goes back to it;
 * - curvature.safetensors: every checkpoint analysed so far (JSON in the metadata) and the last
 *   top eigenvector, the next checkpoint's Lanczos start vector, so a resumed run starts Lanczos
 *   where the uninterrupted one would;
 * - log.json: which recipe the run is on (the base one, or the warm-up after a divergence), the
 *   divergences met, and who ran it from where;
 * - result.json: written last, when the run is finished (trained and analysed, or diverged for
 *   good); a run with it is never run again.
 *
 * These four files are the whole state of a run, so a run moves to another machine by moving them
 * (the cluster mode ships them through Redis).
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { readSafetensors, writeFileAtomic, writeSafetensors, type TensorToWrite } from '../io/index.js';
import type { StudyCheckpoint, StudyRunResult, StudySession } from '../report/index.js';

export const RUN_FILES = ['checkpoint.safetensors', 'curvature.safetensors', 'log.json', 'result.json'] as const;
export type RunFile = (typeof RUN_FILES)[number];

const CURVATURE_KEY = 'hesse.study.curvature';
const WARM_KEY = 'warm.eigenvector';
const FORMAT_VERSION = 1;

export function runFolder(studyDir: string, id: string): string {
  return join(studyDir, 'runs', id);
}

export interface RunLog {
  /** 'base': PyHessian's recipe as is; 'warmup': started again with a warm-up after diverging */
  attempt: 'base' | 'warmup';
  divergences: string[];
  sessions: StudySession[];
}

export interface CurvatureState {
  records: StudyCheckpoint[];
  /** the last analysed checkpoint's top eigenvector */
  warm?: Float32Array;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function parseJson<T>(text: string, path: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new FileFormatError(`${path} is not valid JSON; the run's state is damaged: remove the run's folder (${join(path, '..')}) to run it again`);
  }
}

export async function readRunResult(dir: string): Promise<StudyRunResult | undefined> {
  const path = join(dir, 'result.json');
  const text = await readText(path);
  return text === undefined ? undefined : parseJson<StudyRunResult>(text, path);
}

export async function writeRunResult(dir: string, r: StudyRunResult): Promise<void> {
  await writeFileAtomic(join(dir, 'result.json'), `${JSON.stringify(r)}\n`);
}

export async function readRunLog(dir: string): Promise<RunLog> {
  const path = join(dir, 'log.json');
  const text = await readText(path);
  if (text === undefined) return { attempt: 'base', divergences: [], sessions: [] };
  const log = parseJson<RunLog>(text, path);
  if ((log.attempt !== 'base' && log.attempt !== 'warmup') || !Array.isArray(log.divergences) || !Array.isArray(log.sessions)) {
    throw new FileFormatError(`${path} is not a study run's log; remove the run's folder (${dir}) to run it again`);
  }
  return log;
}

export async function writeRunLog(dir: string, log: RunLog): Promise<void> {
  await writeFileAtomic(join(dir, 'log.json'), `${JSON.stringify(log, null, 1)}\n`);
}

export async function readCurvature(dir: string, size: number): Promise<CurvatureState> {
  const path = join(dir, 'curvature.safetensors');
  let file;
  try {
    file = await readSafetensors(path);
  } catch (e) {
    if (e instanceof FileFormatError && / no such file/.test(e.message)) return { records: [] };
    throw e;
  }
  const meta = file.metadata[CURVATURE_KEY];
  const parsed = meta === undefined ? undefined : parseJson<{ version?: number; records?: StudyCheckpoint[] }>(meta, path);
  if (!parsed || parsed.version !== FORMAT_VERSION || !Array.isArray(parsed.records)) {
    throw new FileFormatError(`${path} holds no study checkpoints ('${CURVATURE_KEY}' metadata, version ${FORMAT_VERSION}); remove the run's folder (${dir}) to run it again`);
  }
  const warm = file.tensors.get(WARM_KEY);
  if (warm && !(warm.data instanceof Float32Array && warm.data.length === size)) {
    throw new FileFormatError(`${path}: '${WARM_KEY}' must be F32 with ${size} values (one per parameter), got ${warm.dtype} with ${warm.data.length}; remove the run's folder (${dir}) to run it again`);
  }
  return { records: parsed.records, ...(warm ? { warm: warm.data as Float32Array } : {}) };
}

export async function writeCurvature(dir: string, c: CurvatureState): Promise<void> {
  const tensors: Record<string, TensorToWrite> = c.warm ? { [WARM_KEY]: { dtype: 'F32', shape: [c.warm.length], data: c.warm } } : {};
  await writeSafetensors(join(dir, 'curvature.safetensors'), tensors, { [CURVATURE_KEY]: JSON.stringify({ version: FORMAT_VERSION, records: c.records }) });
}

/** Forgets the training and the checkpoints (a fresh start with another recipe); the log stays. */
export async function clearTraining(dir: string): Promise<void> {
  for (const f of ['checkpoint.safetensors', 'curvature.safetensors']) await rm(join(dir, f), { force: true });
}
