/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON header
 * ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}), then the
 * byte buffer the offsets point into. This is what PyTorch's `safetensors.torch.save_file` writes,
 * so state dicts move between hesse and PyTorch under their own names.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { visit } from 'jsonc-parser';
import { DTypeError, FileFormatError, OptionError, unreadableFile } from '../errors.js';
import { Tensor } from '../tensor/index.js';

export type SafetensorsDType = 'F32' | 'F64' | 'I64' | 'I32' | 'U8';
export type StoredData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export interface StoredTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: StoredData;
}

export interface SafetensorsFile {
  /** In the order of their data offsets (the order a writer laid them out). */
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

/** Something to write: a Tensor, a StoredTensor, or a shape with numbers (dtype picked from the array type). */
export interface TensorToWrite {
  dtype?: SafetensorsDType;
  shape: readonly number[];
  data: StoredData | ArrayLike<number>;
}

const ITEM_SIZE: Record<SafetensorsDType, number> = { F32: 4, F64: 8, I64: 8, I32: 4, U8: 1 };
export const SAFETENSORS_DTYPES = Object.keys(ITEM_SIZE) as SafetensorsDType[];

/** A guard against reading gigabytes of "header" from a file that is not safetensors at all. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

function isDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ITEM_SIZE, s);
}

function fail(name: string, problem: string): never {
  throw new FileFormatError(`${name}: ${problem}`);
}

function reverseBytesInGroups(bytes: Uint8Array, group: number): void {
  for (let i = 0; i + group <= bytes.length; i += group) bytes.subarray(i, i + group).reverse();
}

/** Copies into a fresh buffer, so the typed array is aligned whatever the file offset was. */
function typedFromBytes(dtype: SafetensorsDType, bytes: Uint8Array): StoredData {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  if (!HOST_IS_LITTLE_ENDIAN) reverseBytesInGroups(copy, ITEM_SIZE[dtype]);
  const buf = copy.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F64':
      return new Float64Array(buf);
    case 'I64':
      return new BigInt64Array(buf);
    case 'I32':
      return new Int32Array(buf);
    case 'U8':
      return copy;
  }
}

function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0);
}

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * The first key that an object of the header names twice, with where it is. JSON.parse keeps the
 * last of duplicates silently, so a header naming a tensor (or a metadata key such as the model
 * description) twice would load whichever came last; the format requires unique names.
 */
function duplicateKey(text: string): { key: string; where: string } | undefined {
  const open: Set<string>[] = [];
  let found: { key: string; where: string } | undefined;
  visit(
    text,
    {
      onObjectBegin: () => {
        open.push(new Set());
        return found === undefined;
      },
      onObjectEnd: () => {
        open.pop();
      },
      onObjectProperty: (key, _offset, _length, _line, _column, path) => {
        const keys = open.at(-1)!;
        if (found === undefined && keys.has(key)) {
          const at = path();
          found = { key, where: at.length === 0 ? 'the header' : `the header's ${at.map((p) => `'${p}'`).join(' → ')}` };
        }
        keys.add(key);
      },
    },
    { disallowComments: true },
  );
  return found;
}

/** Parses a whole safetensors file held in memory. `name` (usually the path) is put in every error. */
export function parseSafetensors(buf: Uint8Array, name = '<buffer>'): SafetensorsFile {
  if (buf.length < 8) {
    fail(name, `file is ${buf.length} bytes, shorter than the 8-byte header length (truncated or not a safetensors file)`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  if (headerLen64 > BigInt(buf.length - 8)) {
    fail(name, `header length ${headerLen64} runs past the end of the file (${buf.length} bytes): truncated or not a safetensors file`);
  }
  const headerLen = Number(headerLen64);
  if (headerLen > MAX_HEADER_BYTES) fail(name, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);

  let header: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + headerLen));
    header = JSON.parse(text);
  } catch (e) {
    fail(name, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    fail(name, 'header is not a JSON object');
  }
  const twice = duplicateKey(text);
  if (twice) fail(name, `${twice.where} names '${twice.key}' twice; each key must appear once (rewrite the file with a safetensors writer)`);

  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { key: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[] = [];

  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(name, '__metadata__ is not an object');
      for (const [mk, mv] of Object.entries(value as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(name, `__metadata__ value for '${mk}' is not a string`);
        metadata[mk] = mv;
      }
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(name, `tensor '${key}': entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (!isDType(dtype)) {
      fail(name, `tensor '${key}': unsupported dtype ${JSON.stringify(dtype)} (hesse reads ${SAFETENSORS_DTYPES.join(', ')})`);
    }
    if (!isShape(shape)) fail(name, `tensor '${key}': shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      fail(name, `tensor '${key}': data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    const expected = elementCount(shape) * ITEM_SIZE[dtype];
    if (end - begin !== expected) {
      fail(
        name,
        `tensor '${key}': data_offsets [${begin}, ${end}] span ${end - begin} bytes, but ${dtype} shape [${shape.join(', ')}] needs ${expected}`,
      );
    }
    if (end > dataLen) {
      fail(name, `tensor '${key}': data_offsets [${begin}, ${end}] run past the ${dataLen}-byte data buffer (truncated file?)`);
    }
    entries.push({ key, dtype, shape, begin, end });
  }

  // The format requires the buffer to be covered exactly: no overlaps, no holes, nothing trailing.
  const laidOut = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  let covered = 0;
  for (const e of laidOut) {
    if (e.begin < covered) {
      const other = laidOut.find((o) => o !== e && o.begin < e.end && e.begin < o.end)!;
      fail(name, `tensors '${other.key}' and '${e.key}' overlap in the data buffer`);
    }
    if (e.begin > covered) fail(name, `bytes [${covered}, ${e.begin}) of the data buffer belong to no tensor (a gap)`);
    covered = e.end;
  }
  if (covered !== dataLen) fail(name, `data buffer has ${dataLen - covered} trailing bytes after the last tensor`);

  const tensors = new Map<string, StoredTensor>();
  for (const e of [...entries].sort((a, b) => a.begin - b.begin)) {
    tensors.set(e.key, {
      dtype: e.dtype,
      shape: e.shape,
      data: typedFromBytes(e.dtype, buf.subarray(dataStart + e.begin, dataStart + e.end)),
    });
  }
  return { tensors, metadata };
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw unreadableFile(path, e, 'a safetensors file');
  }
  return parseSafetensors(buf, path);
}

function dtypeOfArray(data: TensorToWrite['data']): SafetensorsDType | undefined {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Uint8Array) return 'U8';
  return undefined;
}

/** The tensor's bytes in little-endian order, converting the array to `dtype` where needed. */
function bytesOf(key: string, dtype: SafetensorsDType, data: TensorToWrite['data']): Uint8Array {
  let typed: StoredData;
  if (dtypeOfArray(data) === dtype) {
    typed = data as StoredData;
  } else if (data instanceof BigInt64Array) {
    throw new DTypeError(`tensor '${key}': cannot write BigInt64Array data as ${dtype}; pass it as I64 or convert it first`);
  } else {
    const src = data as ArrayLike<number>;
    const n = src.length;
    const fits: ((v: number) => boolean) | undefined =
      dtype === 'U8'
        ? (v) => Number.isInteger(v) && v >= 0 && v <= 255
        : dtype === 'I32'
          ? (v) => Number.isInteger(v) && v >= -2147483648 && v <= 2147483647
          : dtype === 'I64'
            ? (v) => Number.isSafeInteger(v)
            : undefined;
    if (fits) {
      for (let i = 0; i < n; i++) {
        if (!fits(src[i]!)) throw new DTypeError(`tensor '${key}': value ${src[i]} at index ${i} is not representable as ${dtype}`);
      }
    }
    switch (dtype) {
      case 'F32':
        typed = Float32Array.from(src);
        break;
      case 'F64':
        typed = Float64Array.from(src);
        break;
      case 'I32':
        typed = Int32Array.from(src);
        break;
      case 'U8':
        typed = Uint8Array.from(src);
        break;
      case 'I64': {
        const out = new BigInt64Array(n);
        for (let i = 0; i < n; i++) out[i] = BigInt(src[i]!);
        typed = out;
        break;
      }
    }
  }
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (HOST_IS_LITTLE_ENDIAN) return bytes;
  const swapped = bytes.slice();
  reverseBytesInGroups(swapped, ITEM_SIZE[dtype]);
  return swapped;
}

/**
 * The bytes of a safetensors file: tensors laid out in insertion order, the header padded with
 * spaces to a multiple of 8 so the buffer starts 8-aligned (as the reference writer does).
 */
export function encodeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of Object.entries(tensors)) {
    if (key === '__metadata__') throw new OptionError(`'__metadata__' is reserved in safetensors and cannot name a tensor`);
    if (!isShape(t.shape)) throw new OptionError(`tensor '${key}': shape [${t.shape.join(', ')}] is not a list of non-negative integers`);
    const dtype = t.dtype ?? dtypeOfArray(t.data) ?? 'F32';
    if (!isDType(dtype)) throw new DTypeError(`tensor '${key}': cannot write dtype ${String(dtype)} (hesse writes ${SAFETENSORS_DTYPES.join(', ')})`);
    const count = elementCount(t.shape);
    if (t.data.length !== count) {
      throw new OptionError(`tensor '${key}': shape [${t.shape.join(', ')}] needs ${count} values, got ${t.data.length}`);
    }
    const bytes = bytesOf(key, dtype, t.data);
    header[key] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    blobs.push(bytes);
  }
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new OptionError(`metadata '${k}' must be a string, got ${typeof v}`);
    }
    header.__metadata__ = { ...metadata };
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * Writes the whole file to a temporary name in the same folder, flushes it to disk and renames it
 * over `path`, so a crash leaves either the old file or the new one, never half a checkpoint.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true }).catch(() => undefined);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fh;
  try {
    fh = await open(tmp, 'wx');
  } catch (e) {
    throw new FileFormatError(`${path}: cannot write (${(e as Error).message})`);
  }
  try {
    await fh.writeFile(bytes);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    if (fh) await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw new FileFormatError(`${path}: cannot write (${(e as Error).message})`);
  }
}

export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** F32 as is, F64 rounded to float32; anything else is a DTypeError naming `what`. */
export function asFloat32(t: StoredTensor, what = 'tensor'): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof Float64Array) return Float32Array.from(t.data);
  throw new DTypeError(`${what} has dtype ${t.dtype}; a floating-point tensor (F32 or F64) is needed`);
}

/** A Tensor over the (float32) data of a stored F32/F64 tensor. */
export function asTensor(t: StoredTensor, what = 'tensor'): Tensor {
  return new Tensor(t.shape, asFloat32(t, what));
}

/** Class labels: I64, I32 or U8 values in [0, 2^31), as an Int32Array. */
export function asInt32Labels(t: StoredTensor, what = 'labels'): Int32Array {
  const d = t.data;
  if (d instanceof Uint8Array) return Int32Array.from(d);
  if (d instanceof Int32Array || d instanceof BigInt64Array) {
    const out = new Int32Array(d.length);
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v < 0 || v > 2147483647) {
        throw new DTypeError(`${what}: value ${v} at index ${i} is not a class label (labels must be integers in [0, 2^31))`);
      }
      out[i] = Number(v);
    }
    return out;
  }
  throw new DTypeError(`${what} has dtype ${t.dtype}; integer labels (I64, I32 or U8) are needed`);
}
