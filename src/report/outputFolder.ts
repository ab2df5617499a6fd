import { mkdir, readdir, readFile, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { OptionError } from '../errors.js';
import { RESULTS_FORMAT } from './results.js';
import { RESULTS_FILE } from './resultsFile.js';

function cannotCreate(path: string, e: NodeJS.ErrnoException): OptionError {
  return new OptionError(`the output folder ${path} cannot be created (${e.message}); choose a folder that can be written to`);
}

/**
 * Creates `dir` and its missing parents one level at a time. Node's recursive mkdir loops for
 * ever where a parent exists but refuses new entries with ENOENT (/proc/x); one level at a time
 * fails at once there. Returns the folders it created, outermost first.
 */
export async function makeFolder(dir: string): Promise<string[]> {
  const path = resolve(dir);
  const missing: string[] = [];
  for (let at = path; ; at = dirname(at)) {
    let s;
    try {
      s = await stat(at);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // ENOTDIR: a file further up, which the next step up names
      if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') throw cannotCreate(path, err);
    }
    if (s) {
      if (!s.isDirectory()) throw new OptionError(`the output folder ${path} cannot be created: ${at} is a file; choose another folder`);
      break;
    }
    missing.push(at);
    if (dirname(at) === at) break;
  }
  const created: string[] = [];
  for (const d of missing.reverse()) {
    try {
      await mkdir(d);
      created.push(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotCreate(path, e as NodeJS.ErrnoException);
    }
  }
  return created;
}

/** Removes the folders of `created` (outermost first, as makeFolder gives them) that are still empty: a command that failed leaves no empty folder behind. */
export async function removeEmptyFolders(created: readonly string[]): Promise<void> {
  for (const d of [...created].reverse()) {
    try {
      await rmdir(d);
    } catch {
      // not empty (something was written: keep it) or already gone
      return;
    }
  }
}

/** True when `dir` holds a results.json that hesse wrote (it carries hesse's format marker). */
export async function holdsHesseResults(dir: string): Promise<boolean> {
  try {
    const value = JSON.parse(await readFile(join(dir, RESULTS_FILE), 'utf8')) as { format?: unknown } | null;
    return value?.format === RESULTS_FORMAT;
  } catch {
    return false;
  }
}

export interface OutputFolderOptions {
  /** write into a folder that holds files hesse did not write (they are left alone; files of the same names are replaced) */
  force?: boolean;
  /** the folder is known to be hesse's although it holds no results yet (the checkpoint a training run resumes from is in it) */
  ours?: boolean;
}

/**
 * Makes `dir` ready for a command's results before any work starts: creates it, and refuses a
 * folder that holds anything but an earlier hesse run's files, so that nothing hesse did not write
 * is overwritten. Returns the folders it created (see makeFolder).
 */
export async function prepareOutputFolder(dir: string, opts: OutputFolderOptions = {}): Promise<string[]> {
  const path = resolve(dir);
  const created = await makeFolder(path);
  if (opts.force || opts.ours) return created;
  const entries = await readdir(path);
  if (entries.length === 0 || (await holdsHesseResults(path))) return created;
  const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? `, ... (${entries.length} entries)` : '');
  throw new OptionError(`the output folder ${path} already holds files hesse did not write (${shown}); choose a new or empty folder, or force writing into it`);
}
