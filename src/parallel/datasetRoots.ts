import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { DatasetSpec } from '../data/index.js';
import { OptionError } from '../errors.js';

/** The directories a worker may read datasets from, as real paths (symbolic links resolved). */
export async function realRoots(roots: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const r of roots) {
    try {
      out.push(await realpath(resolve(r)));
    } catch {
      throw new OptionError(`dataset root '${r}' does not exist; give existing directories as dataset roots`);
    }
  }
  return out;
}

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Where a path named by a job really is, if it lies inside one of the roots: an absolute path
 * must resolve (links followed) into a root; a relative one is looked up under each root in
 * turn. Returns null when it is outside every root or does not exist, so nothing else is read.
 */
export async function resolveInRoots(p: string, roots: readonly string[]): Promise<string | null> {
  const candidates = isAbsolute(p) ? [p] : roots.map((r) => join(r, p));
  for (const c of candidates) {
    let real: string;
    try {
      real = await realpath(c);
    } catch {
      continue;
    }
    if (roots.some((r) => inside(r, real))) return real;
  }
  return null;
}

/** What a worker without dataset roots says of a job that names a file; the CLI adds its flag to this phrase. */
export const NO_DATASET_ROOTS = 'this worker was started without dataset roots';

/** The spec with its file or directory resolved inside the roots; throws a message naming the path when it is not. */
export async function specWithinRoots(spec: DatasetSpec, roots: readonly string[]): Promise<DatasetSpec> {
  if (spec.kind === 'synthetic') return spec;
  const named = 'path' in spec ? spec.path : spec.dir;
  if (roots.length === 0) throw new OptionError(`the job names the dataset '${named}', but ${NO_DATASET_ROOTS}; start it with a dataset root, a directory that holds the dataset`);
  const real = await resolveInRoots(named, roots);
  if (!real) throw new OptionError(`the job names the dataset '${named}', which is not inside this worker's dataset roots or does not exist`);
  return 'path' in spec ? { ...spec, path: real } : { ...spec, dir: real };
}
