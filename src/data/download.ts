/**
 * Fetches the official CIFAR binary archives, checks their published MD5, and extracts them. The
 * archive is streamed to a temporary file while hashed; extraction goes to a temporary folder and
 * the data files are renamed into place, so an interrupted run never leaves files that look complete.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { x as untar } from 'tar';
import { FileFormatError, HesseError, OptionError } from '../errors.js';
import { CIFAR_LAYOUTS, type CifarName } from './cifar.js';

export interface DatasetSource {
  name: CifarName;
  url: string;
  archive: string;
  /** As published on https://www.cs.toronto.edu/~kriz/cifar.html */
  md5: string;
  /** The folder the archive unpacks to, and the data files in it. */
  folder: string;
  files: readonly string[];
}

export const DATASET_SOURCES: Readonly<Record<CifarName, DatasetSource>> = {
  cifar10: {
    name: 'cifar10',
    url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
    archive: 'cifar-10-binary.tar.gz',
    md5: 'c32a1d4ab5d03f1284b67883e8d87530',
    folder: CIFAR_LAYOUTS.cifar10.folder,
    files: [...CIFAR_LAYOUTS.cifar10.train, ...CIFAR_LAYOUTS.cifar10.test],
  },
  cifar100: {
    name: 'cifar100',
    url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
    archive: 'cifar-100-binary.tar.gz',
    md5: '03b5dce01913d631647c71ecec9e9cb8',
    folder: CIFAR_LAYOUTS.cifar100.folder,
    files: [...CIFAR_LAYOUTS.cifar100.train, ...CIFAR_LAYOUTS.cifar100.test],
  },
};

export interface DownloadProgress {
  phase: 'download' | 'verify' | 'extract';
  bytes: number;
  /** From content-length (download) or the file size (verify); null when the server does not say. */
  total: number | null;
}

export type FetchLike = (url: string, init: { signal: AbortSignal }) => Promise<Response>;

export interface DownloadOptions {
  /** The folder that will hold the archive's folder (e.g. `data/` for `data/cifar-10-batches-bin/`). */
  dir: string;
  onProgress?: (p: DownloadProgress) => void;
  fetchImpl?: FetchLike;
  /** Overrides, for mirrors and tests. */
  url?: string;
  md5?: string;
  /** Give up when no response has arrived after this long (default 15 s) ... */
  connectTimeoutMs?: number;
  /** ... or when the body stalls this long between chunks (default 60 s). */
  stallTimeoutMs?: number;
  /** Keep the .tar.gz after extracting (default: delete it). */
  keepArchive?: boolean;
}

export interface DownloadResult {
  /** The folder holding the data files. */
  folder: string;
  /** False when the files were already there. */
  downloaded: boolean;
  /** True when an archive (downloaded or found in `dir`) was extracted. */
  extracted: boolean;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

async function holdsAll(folder: string, files: readonly string[]): Promise<boolean> {
  for (const f of files) if (!(await isFile(join(folder, f)))) return false;
  return true;
}

/** The folder holding every data file of the dataset: `dir/<folder>/`, or `dir` itself; null if neither. */
export async function findDataset(name: CifarName, dir: string): Promise<string | null> {
  const src = DATASET_SOURCES[name];
  for (const folder of [join(resolve(dir), src.folder), resolve(dir)]) if (await holdsAll(folder, src.files)) return folder;
  return null;
}

export async function datasetPresent(name: CifarName, dir: string): Promise<boolean> {
  return (await findDataset(name, dir)) !== null;
}

export async function md5OfFile(file: string, onProgress?: (p: DownloadProgress) => void): Promise<string> {
  const size = (await stat(file)).size;
  const hash = createHash('md5');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    onProgress?.({ phase: 'verify', bytes, total: size });
  }
  return hash.digest('hex');
}

/** Returns the file's MD5; throws a FileFormatError when it is not `expected`. */
export async function verifyMd5(file: string, expected: string, onProgress?: (p: DownloadProgress) => void): Promise<string> {
  let actual: string;
  try {
    actual = await md5OfFile(file, onProgress);
  } catch (e) {
    throw new FileFormatError(`${file}: cannot read for its checksum (${(e as Error).message})`);
  }
  if (actual !== expected.toLowerCase()) {
    throw new FileFormatError(`${file}: MD5 is ${actual}, expected ${expected.toLowerCase()}: the file is corrupt or incomplete; delete it and download it again`);
  }
  return actual;
}

/**
 * Extracts a .tar.gz (or .tar) into `dir`, creating it. The tar package refuses absolute paths
 * and `..` entries, so an archive cannot write outside `dir`. Returns the entry paths.
 */
export async function extractArchive(tgz: string, dir: string, onProgress?: (p: DownloadProgress) => void): Promise<string[]> {
  if (!(await isFile(tgz))) throw new FileFormatError(`${tgz}: no such archive`);
  await mkdir(dir, { recursive: true });
  const entries: string[] = [];
  let bytes = 0;
  try {
    await untar({
      file: tgz,
      cwd: dir,
      strict: true,
      onReadEntry: (entry) => {
        entries.push(entry.path);
        bytes += entry.size ?? 0;
        onProgress?.({ phase: 'extract', bytes, total: null });
      },
    });
  } catch (e) {
    throw new FileFormatError(`${tgz}: cannot extract (${(e as Error).message}); the archive is corrupt or not a .tar.gz`);
  }
  return entries;
}

function describeNetworkError(e: unknown, timedOut: string | null): string {
  if (timedOut) return timedOut;
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const code = err.cause?.code;
  const detail = err.cause?.message ?? err.message ?? String(e);
  return code ? `${code}: ${detail}` : detail;
}

function offlineHelp(src: DatasetSource, dir: string): string {
  return (
    `Without network access, fetch ${src.url} (MD5 ${src.md5}) elsewhere and either put ${src.archive} in ${dir} ` +
    `(running \`hesse data download ${src.name}\` again checks and extracts it), or extract it there yourself so that ` +
    `${join(dir, src.folder)} holds ${src.files.join(', ')}.`
  );
}

/** Streams the response body to `file`, hashing it; returns the MD5. */
async function fetchToFile(
  src: DatasetSource,
  url: string,
  file: string,
  dir: string,
  opts: DownloadOptions,
): Promise<string> {
  const fetchImpl: FetchLike = opts.fetchImpl ?? ((u, init) => fetch(u, init));
  const controller = new AbortController();
  let timedOut: string | null = null;
  const arm = (ms: number, why: string) =>
    setTimeout(() => {
      timedOut = why;
      controller.abort();
    }, ms);
  const connectMs = opts.connectTimeoutMs ?? 15_000;
  const stallMs = opts.stallTimeoutMs ?? 60_000;
  let timer = arm(connectMs, `no response within ${connectMs / 1000} s`);
  const fail = (e: unknown): never => {
    throw new HesseError(`Could not download ${src.archive} from ${url} (${describeNetworkError(e, timedOut)}). ${offlineHelp(src, dir)}`);
  };

  let response: Response;
  try {
    response = await fetchImpl(url, { signal: controller.signal });
  } catch (e) {
    clearTimeout(timer);
    return fail(e);
  }
  clearTimeout(timer);
  if (!response.ok || !response.body) {
    return fail(new Error(`the server answered ${response.status} ${response.statusText}`.trim()));
  }
  const lengthHeader = response.headers.get('content-length');
  const total = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null;
  const hash = createHash('md5');
  const fh = await open(file, 'w');
  let bytes = 0;
  try {
    timer = arm(stallMs, `no data for ${stallMs / 1000} s`);
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      clearTimeout(timer);
      hash.update(chunk);
      await fh.write(chunk);
      bytes += chunk.length;
      opts.onProgress?.({ phase: 'download', bytes, total });
      timer = arm(stallMs, `no data for ${stallMs / 1000} s`);
    }
    clearTimeout(timer);
    await fh.sync();
  } catch (e) {
    clearTimeout(timer);
    await fh.close().catch(() => {});
    return fail(e);
  }
  await fh.close();
  if (total !== null && bytes !== total) fail(new Error(`the connection closed after ${bytes} of ${total} bytes`));
  return hash.digest('hex');
}

/** Extracts into a scratch folder inside `dir`, then renames the data files into `dir/<folder>/`. */
async function installFromArchive(src: DatasetSource, archive: string, dir: string, opts: DownloadOptions): Promise<void> {
  const scratch = join(dir, `.hesse-extract-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await extractArchive(archive, scratch, opts.onProgress);
    const from = join(scratch, src.folder);
    for (const f of src.files) {
      if (!(await isFile(join(from, f)))) throw new FileFormatError(`${archive}: the archive has no ${src.folder}/${f}; it is not the official ${src.archive}`);
    }
    const to = join(dir, src.folder);
    await mkdir(to, { recursive: true });
    // Data files last, so their presence means every other file is in place too.
    const others = (await readdir(from)).filter((f) => !src.files.includes(f));
    for (const f of [...others, ...src.files]) await rename(join(from, f), join(to, f));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Makes `dir/<folder>/` hold the dataset's official binary files: does nothing when they are there,
 * extracts `dir/<archive>` when the user put it there, and otherwise downloads and checks it first.
 */
export async function downloadDataset(name: CifarName, opts: DownloadOptions): Promise<DownloadResult> {
  const src = DATASET_SOURCES[name];
  if (!src) throw new OptionError(`unknown dataset '${String(name)}'; hesse downloads ${Object.keys(DATASET_SOURCES).join(', ')}`);
  const dir = resolve(opts.dir);
  const present = await findDataset(name, dir);
  if (present) return { folder: present, downloaded: false, extracted: false };
  const folder = join(dir, src.folder);
  await mkdir(dir, { recursive: true });

  const md5 = (opts.md5 ?? src.md5).toLowerCase();
  const archive = join(dir, src.archive);
  let downloaded = false;
  if (await isFile(archive)) {
    await verifyMd5(archive, md5, opts.onProgress);
  } else {
    const url = opts.url ?? src.url;
    const partial = `${archive}.${process.pid}.partial`;
    try {
      const actual = await fetchToFile(src, url, partial, dir, opts);
      if (actual !== md5) {
        throw new FileFormatError(`${url}: the downloaded archive has MD5 ${actual}, expected ${md5}: it is corrupt or not the official ${src.archive}; try again`);
      }
      await rename(partial, archive);
    } finally {
      await rm(partial, { force: true });
    }
    downloaded = true;
  }
  await installFromArchive(src, archive, dir, opts);
  if (!opts.keepArchive) await rm(archive, { force: true });
  return { folder, downloaded, extracted: true };
}
