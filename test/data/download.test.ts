import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { c as tarCreate } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileFormatError, HesseError } from '../../src/errors.js';
import {
  datasetPresent,
  downloadDataset,
  extractArchive,
  loadCifar10,
  loadCifar100,
  md5OfFile,
  verifyMd5,
  type DownloadProgress,
  type FetchLike,
} from '../../src/data/index.js';
import { CIFAR10_TRAIN_LABELS, writeTinyCifar10, writeTinyCifar100 } from './cifar-files.js';
import { rejection } from './rejection.js';


let root: string;
let archive10: string;
let archive10Bytes: Uint8Array;
let archive10Md5: string;
let archive100: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hesse-download-'));
  // Archives in the official layout: one top folder holding the binary files.
  const src = join(root, 'src');
  await writeTinyCifar10(src);
  await writeTinyCifar100(src);
  archive10 = join(root, 'cifar-10-binary.tar.gz');
  archive100 = join(root, 'cifar-100-binary.tar.gz');
  await tarCreate({ gzip: true, file: archive10, cwd: src, portable: true }, ['cifar-10-batches-bin']);
  await tarCreate({ gzip: true, file: archive100, cwd: src, portable: true }, ['cifar-100-binary']);
  archive10Bytes = await readFile(archive10);
  archive10Md5 = createHash('md5').update(archive10Bytes).digest('hex');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function fresh(name: string): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true });
  return d;
}

/** Serves `bytes` in small chunks, like a slow server, and records the calls. */
function servingFetch(bytes: Uint8Array, chunk = 256, headers: Record<string, string> = { 'content-length': String(bytes.length) }) {
  const calls: string[] = [];
  const impl: FetchLike = async (url) => {
    calls.push(url);
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(at, at + chunk));
        at += chunk;
      },
    });
    return new Response(body, { status: 200, headers });
  };
  return { impl, calls };
}

const offline: FetchLike = async () => {
  throw Object.assign(new TypeError('fetch failed'), {
    cause: Object.assign(new Error('getaddrinfo ENOTFOUND www.cs.toronto.edu'), { code: 'ENOTFOUND' }),
  });
};

describe('verifyMd5', () => {
  it('matches the RFC 1321 test vectors and rejects a wrong sum naming the file', async () => {
    const dir = await fresh('md5');
    const abc = join(dir, 'abc.txt');
    await writeFile(abc, 'abc');
    await writeFile(join(dir, 'empty'), '');
    expect(await md5OfFile(join(dir, 'empty'))).toBe('d41d8cd98f00b204e9800998ecf8427e');
    expect(await verifyMd5(abc, '900150983CD24FB0D6963F7D28E17F72')).toBe('900150983cd24fb0d6963f7d28e17f72');
    await expect(verifyMd5(abc, 'c32a1d4ab5d03f1284b67883e8d87530')).rejects.toThrow(
      new FileFormatError(
        `${abc}: MD5 is 900150983cd24fb0d6963f7d28e17f72, expected c32a1d4ab5d03f1284b67883e8d87530: the file is corrupt or incomplete; delete it and download it again`,
      ),
    );
  });
});

describe('extractArchive', () => {
  it('unpacks the official layout', async () => {
    const dir = await fresh('extract');
    const entries = await extractArchive(archive10, dir);
    expect(entries).toContain('cifar-10-batches-bin/data_batch_5.bin');
    expect(await datasetPresent('cifar10', dir)).toBe(true);
    const ds = await loadCifar10(dir);
    expect(Array.from(ds.labels())).toEqual(CIFAR10_TRAIN_LABELS.flat(2));
  });

  it('rejects a file that is not a tar.gz, naming it', async () => {
    const dir = await fresh('extract-bad');
    const junk = join(dir, 'junk.tar.gz');
    await writeFile(junk, archive10Bytes.subarray(0, 200));
    await expect(extractArchive(junk, join(dir, 'out'))).rejects.toThrow(FileFormatError);
    await expect(extractArchive(junk, join(dir, 'out'))).rejects.toThrow(`${junk}: cannot extract`);
  });
});

describe('downloadDataset', () => {
  it('streams, checks, extracts, reports progress and then skips', async () => {
    const dir = await fresh('dl');
    const { impl, calls } = servingFetch(archive10Bytes);
    const progress: DownloadProgress[] = [];
    const result = await downloadDataset('cifar10', { dir, fetchImpl: impl, md5: archive10Md5, onProgress: (p) => progress.push(p) });
    expect(calls).toEqual(['https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz']);
    expect(result).toEqual({ folder: join(dir, 'cifar-10-batches-bin'), downloaded: true, extracted: true });
    const dl = progress.filter((p) => p.phase === 'download');
    expect(dl.length).toBe(Math.ceil(archive10Bytes.length / 256));
    expect(dl.length).toBeGreaterThan(3);
    expect(dl.at(-1)).toEqual({ phase: 'download', bytes: archive10Bytes.length, total: archive10Bytes.length });
    expect(dl.every((p, i) => i === 0 || p.bytes > dl[i - 1]!.bytes)).toBe(true);
    // the archive and every scratch file are gone; the data is in place
    expect(await readdir(dir)).toEqual(['cifar-10-batches-bin']);
    expect((await readdir(result.folder)).sort()).toEqual(
      ['batches.meta.txt', 'data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'],
    );
    expect((await loadCifar10(dir, { split: 'test' })).length).toBe(3);

    const again = await downloadDataset('cifar10', { dir, fetchImpl: offline });
    expect(again).toEqual({ folder: result.folder, downloaded: false, extracted: false });
    // given the extracted folder itself, it finds the files there too
    expect(await downloadDataset('cifar10', { dir: result.folder, fetchImpl: offline })).toEqual(again);
  });

  it('works without content-length and keeps the archive when asked', async () => {
    const dir = await fresh('dl-nolength');
    const { impl } = servingFetch(archive10Bytes, 65536, {});
    const progress: DownloadProgress[] = [];
    await downloadDataset('cifar10', { dir, fetchImpl: impl, md5: archive10Md5, keepArchive: true, onProgress: (p) => progress.push(p) });
    expect(progress.find((p) => p.phase === 'download')!.total).toBeNull();
    expect((await readdir(dir)).sort()).toEqual(['cifar-10-batches-bin', 'cifar-10-binary.tar.gz']);
  });

  it('rejects an archive whose MD5 is not the published one and leaves nothing behind', async () => {
    const dir = await fresh('dl-md5');
    const { impl } = servingFetch(archive10Bytes);
    const err = await rejection(downloadDataset('cifar10', { dir, fetchImpl: impl }));
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toContain(`has MD5 ${archive10Md5}, expected c32a1d4ab5d03f1284b67883e8d87530`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('fails fast without network, saying where to put the files by hand', async () => {
    const dir = await fresh('dl-offline');
    // one attempt, no retries, and the connect timer is not waited for: with an hour's timeout a wait would hang the test
    let attempts = 0;
    const counted: FetchLike = (url, init) => (attempts++, offline(url, init));
    const err = await rejection(downloadDataset('cifar10', { dir, fetchImpl: counted, connectTimeoutMs: 3_600_000 }));
    expect(attempts).toBe(1);
    expect(err).toBeInstanceOf(HesseError);
    expect(err.message).toContain('ENOTFOUND');
    expect(err.message).toContain(`put cifar-10-binary.tar.gz in ${dir}`);
    expect(err.message).toContain(`${join(dir, 'cifar-10-batches-bin')} holds data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin`);
    expect(err.message).toContain('c32a1d4ab5d03f1284b67883e8d87530');
    expect(await readdir(dir)).toEqual([]);
  });

  it('gives up when the server does not answer in time', async () => {
    const dir = await fresh('dl-timeout');
    const hanging: FetchLike = (_url, { signal }) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(new DOMException('This operation was aborted', 'AbortError'))));
    await expect(downloadDataset('cifar100', { dir, fetchImpl: hanging, connectTimeoutMs: 50 })).rejects.toThrow(
      /Could not download cifar-100-binary\.tar\.gz .*no response within 0\.05 s.*cifar-100-binary holds train\.bin, test\.bin/,
    );
  });

  it('gives up when the body stalls, and removes the partial file', async () => {
    const dir = await fresh('dl-stall');
    const stalling: FetchLike = async (_url, { signal }) => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(archive10Bytes.slice(0, 1000));
          signal.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
        },
      });
      return new Response(body, { status: 200 });
    };
    await expect(downloadDataset('cifar10', { dir, fetchImpl: stalling, stallTimeoutMs: 50, md5: archive10Md5 })).rejects.toThrow(/no data for 0\.05 s/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports an HTTP error status', async () => {
    const dir = await fresh('dl-404');
    const notFound: FetchLike = async () => new Response('gone', { status: 404, statusText: 'Not Found' });
    await expect(downloadDataset('cifar10', { dir, fetchImpl: notFound })).rejects.toThrow(/the server answered 404 Not Found/);
  });

  it('notices a connection that closes early', async () => {
    const dir = await fresh('dl-short');
    const { impl } = servingFetch(archive10Bytes.subarray(0, 1000), 256, { 'content-length': String(archive10Bytes.length) });
    await expect(downloadDataset('cifar10', { dir, fetchImpl: impl, md5: archive10Md5 })).rejects.toThrow(
      `the connection closed after 1000 of ${archive10Bytes.length} bytes`,
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('extracts an archive the user put in the folder, without the network', async () => {
    const dir = await fresh('dl-manual');
    await copyFile(archive100, join(dir, 'cifar-100-binary.tar.gz'));
    const md5 = createHash('md5').update(await readFile(archive100)).digest('hex');
    const result = await downloadDataset('cifar100', { dir, fetchImpl: offline, md5 });
    expect(result).toEqual({ folder: join(dir, 'cifar-100-binary'), downloaded: false, extracted: true });
    expect((await loadCifar100(dir, { labels: 'coarse' })).classNames?.[0]).toBe('coarse0');
  });

  it('refuses a user-placed archive with the wrong checksum', async () => {
    const dir = await fresh('dl-manual-bad');
    await copyFile(archive10, join(dir, 'cifar-10-binary.tar.gz'));
    await expect(downloadDataset('cifar10', { dir, fetchImpl: offline })).rejects.toThrow(/cifar-10-binary\.tar\.gz: MD5 is .* delete it and download it again/);
  });

  it('rejects an archive without the expected files', async () => {
    const dir = await fresh('dl-wrong-archive');
    const md5 = createHash('md5').update(await readFile(archive100)).digest('hex');
    const { impl } = servingFetch(await readFile(archive100));
    await expect(downloadDataset('cifar10', { dir, fetchImpl: impl, md5 })).rejects.toThrow(
      /the archive has no cifar-10-batches-bin\/data_batch_1\.bin; it is not the official cifar-10-binary\.tar\.gz/,
    );
    // the verified archive stays (no second download needed); the scratch folder is gone
    expect(await readdir(dir)).toEqual(['cifar-10-binary.tar.gz']);
  });
});
