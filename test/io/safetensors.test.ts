import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DTypeError, FileFormatError } from '../../src/errors.js';
import {
  asFloat32,
  asInt32Labels,
  asTensor,
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
  type StoredData,
  type StoredTensor,
} from '../../src/io/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';
import { referenceDir, referenceIndex } from '../helpers/fixtures.js';

const REFERENCE = referenceDir;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hesse-safetensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function bytesOf(a: StoredData): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function randomBits(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextUint32() & 0xff;
  return out;
}

/** A header and data buffer assembled by hand, so malformed files can say anything. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors round trip', () => {
  it('keeps every dtype bit for bit, with shapes, order and metadata', async () => {
    const f32 = new Float32Array(randomBits(4 * 60, 1).buffer); // includes NaN payloads, denormals, -0
    const f64 = new Float64Array(randomBits(8 * 30, 2).buffer);
    const i64 = BigInt64Array.of(0n, -1n, 9223372036854775807n, -9223372036854775808n, 123456789012345n, -7n);
    const i32 = Int32Array.of(0, -1, 2147483647, -2147483648, 42, 7);
    const u8 = Uint8Array.from({ length: 256 }, (_, i) => i);
    const tensors = {
      'layer.zeta': { shape: [3, 4, 5], data: f32 },
      'alpha.f64': { shape: [30], data: f64 },
      'target.y': { shape: [2, 3], data: i64 },
      i32: { shape: [6], data: i32 },
      u8: { shape: [16, 16], data: u8 },
      scalar: { shape: [], data: Float32Array.of(3.5) },
      empty: { shape: [0, 3], data: new Float32Array(0) },
    };
    const path = join(dir, 'all-dtypes.safetensors');
    await writeSafetensors(path, tensors, { format: 'pt', note: 'héllo' });
    const back = await readSafetensors(path);
    expect([...back.tensors.keys()]).toEqual(Object.keys(tensors));
    expect(back.metadata).toEqual({ format: 'pt', note: 'héllo' });
    const dtypes: Record<string, string> = { 'layer.zeta': 'F32', 'alpha.f64': 'F64', 'target.y': 'I64', i32: 'I32', u8: 'U8', scalar: 'F32', empty: 'F32' };
    for (const [k, t] of Object.entries(tensors)) {
      const got = back.tensors.get(k)!;
      expect(got.dtype).toBe(dtypes[k]);
      expect(got.shape).toEqual(t.shape);
      expect(got.data.constructor).toBe(t.data.constructor);
      expect(Buffer.from(bytesOf(got.data)).equals(Buffer.from(bytesOf(t.data)))).toBe(true);
    }
  });

  it('pads the header with spaces to a multiple of 8 and lays tensors out in insertion order', () => {
    const buf = encodeSafetensors({ b: { shape: [1], data: Uint8Array.of(9) }, a: { shape: [2], data: Float32Array.of(1, 2) } });
    const n = Number(new DataView(buf.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(buf.subarray(8, 8 + n));
    const json = text.trimEnd();
    expect(text.slice(json.length)).toMatch(/^ *$/);
    expect(JSON.parse(json)).toEqual({
      b: { dtype: 'U8', shape: [1], data_offsets: [0, 1] },
      a: { dtype: 'F32', shape: [2], data_offsets: [1, 9] },
    });
    expect(buf.length).toBe(8 + n + 9);
  });

  it('reads tensors at unaligned offsets and from an unaligned buffer', () => {
    const enc = encodeSafetensors({ pad: { shape: [3], data: Uint8Array.of(1, 2, 3) }, w: { shape: [2], data: Float64Array.of(Math.PI, -1e-300) } });
    const shifted = new Uint8Array(enc.length + 1);
    shifted.set(enc, 1);
    const f = parseSafetensors(shifted.subarray(1), 'shifted');
    expect(Array.from(f.tensors.get('w')!.data as Float64Array)).toEqual([Math.PI, -1e-300]);
    expect(Array.from(f.tensors.get('pad')!.data as Uint8Array)).toEqual([1, 2, 3]);
  });

  it('writes a Tensor as it is (F32, its shape)', () => {
    const t = Tensor.from([2, 3], [1, 2, 3, 4, 5, 6]);
    const back = parseSafetensors(encodeSafetensors({ 'fc.weight': t })).tensors.get('fc.weight')!;
    expect(back.dtype).toBe('F32');
    expect(asTensor(back).shape).toEqual([2, 3]);
    expect(Array.from(asTensor(back).data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('converts plain numbers to the requested dtype and refuses values that do not fit', () => {
    const f = parseSafetensors(
      encodeSafetensors({
        y: { dtype: 'I64', shape: [3], data: [0, 5, -3] },
        x: { dtype: 'F32', shape: [2], data: Float64Array.of(0.1, 2) },
        u: { dtype: 'U8', shape: [2], data: Int32Array.of(0, 255) },
      }),
    );
    expect(Array.from(f.tensors.get('y')!.data as BigInt64Array)).toEqual([0n, 5n, -3n]);
    expect(Array.from(f.tensors.get('x')!.data as Float32Array)).toEqual([Math.fround(0.1), 2]);
    expect(Array.from(f.tensors.get('u')!.data as Uint8Array)).toEqual([0, 255]);
    expect(() => encodeSafetensors({ u: { dtype: 'U8', shape: [1], data: [256] } })).toThrow(DTypeError);
    expect(() => encodeSafetensors({ i: { dtype: 'I32', shape: [1], data: [0.5] } })).toThrow(/not representable as I32/);
    expect(() => encodeSafetensors({ i: { shape: [2], data: [1] } })).toThrow(/needs 2 values, got 1/);
  });

  it('re-encodes every reference fixture to the very bytes the Python writer produced', () => {
    for (const { file } of Object.values(referenceIndex.cases)) {
      const original = readFileSync(join(referenceDir, file));
      const parsed = parseSafetensors(original, file);
      const again = encodeSafetensors(Object.fromEntries(parsed.tensors));
      expect(Buffer.from(again).equals(original), file).toBe(true);
    }
  });
});

describe('safetensors write is atomic', () => {
  it('replaces an existing file and leaves no temporary files', async () => {
    const sub = join(dir, 'atomic');
    await mkdir(sub);
    const path = join(sub, 'ckpt.safetensors');
    await writeSafetensors(path, { w: { shape: [2], data: Float32Array.of(1, 2) } });
    await writeSafetensors(path, { w: { shape: [3], data: Float32Array.of(4, 5, 6) } });
    expect(Array.from((await readSafetensors(path)).tensors.get('w')!.data as Float32Array)).toEqual([4, 5, 6]);
    expect(await readdir(sub)).toEqual(['ckpt.safetensors']);
  });

  it('cleans up its temporary file and leaves the target alone when the rename fails', async () => {
    const sub = join(dir, 'blocked');
    await mkdir(join(sub, 'ckpt.safetensors'), { recursive: true });
    await writeFile(join(sub, 'ckpt.safetensors', 'keep'), 'x');
    await expect(writeSafetensors(join(sub, 'ckpt.safetensors'), { w: { shape: [1], data: Float32Array.of(1) } })).rejects.toThrow(
      /ckpt\.safetensors: cannot write/,
    );
    expect(await readdir(sub)).toEqual(['ckpt.safetensors']);
    expect(await readdir(join(sub, 'ckpt.safetensors'))).toEqual(['keep']);
  });
});

interface Case {
  file: string;
  n_params: number;
  param_order: string[];
  input_shape: number[];
  eigenvalues_desc?: number[];
  trace?: number;
}

describe('reference fixtures', () => {
  const index = JSON.parse(readFileSync(join(REFERENCE, 'index.json'), 'utf8')) as { cases: Record<string, Case> };
  const numel = (t: StoredTensor) => t.shape.reduce((a, b) => a * b, 1);

  for (const [name, c] of Object.entries(index.cases)) {
    it(`reads ${c.file}`, async () => {
      const f = await readSafetensors(join(REFERENCE, c.file));
      const x = f.tensors.get('input.x')!;
      const y = f.tensors.get('target.y')!;
      const isMlp = name.startsWith('mlp');
      const batch = c.input_shape[0]!;
      const classes = isMlp ? 3 : 10;
      expect(x.dtype).toBe('F32');
      expect(x.shape).toEqual(c.input_shape);
      expect(x.shape.slice(1)).toEqual(isMlp ? [6] : [3, x.shape[2], x.shape[2]]);
      expect(y.dtype).toBe('I64');
      expect(y.shape).toEqual([batch]);
      const labels = asInt32Labels(y, 'target.y');
      expect(labels.every((l) => l >= 0 && l < classes)).toBe(true);

      let total = 0;
      for (const p of c.param_order) {
        expect(f.tensors.has(p), p).toBe(true);
        total += numel(f.tensors.get(p)!);
      }
      expect(total).toBe(c.n_params);
      for (const k of ['v.0', 'expected.grad', 'expected.hvp.0']) expect(f.tensors.get(k)!.shape).toEqual([c.n_params]);
      expect(f.tensors.get('expected.logits')!.shape).toEqual([batch, classes]);

      if (isMlp) {
        expect(f.tensors.get('layers.0.weight')!.shape).toEqual([8, 6]);
        const h = f.tensors.get('expected.hessian')!;
        expect(h.shape).toEqual([c.n_params, c.n_params]);
        const H = asFloat32(h);
        let trace = 0;
        for (let i = 0; i < c.n_params; i++) trace += H[i * c.n_params + i]!;
        expect(trace).toBeCloseTo(c.trace!, 4);
        expect(H[3 * c.n_params + 10]).toBe(H[10 * c.n_params + 3]);
      } else {
        const width = Number(/^resnet\d+w(\d+)_/.exec(name)![1]);
        expect(f.tensors.get('conv1.weight')!.shape).toEqual([width, 3, 3, 3]);
        expect(f.tensors.get('fc.weight')!.shape).toEqual([10, 4 * width]);
        if (name.includes('_bn_')) expect(f.tensors.get('bn1.running_mean')!.shape).toEqual([width]);
        if (name.includes('_res_')) expect(f.tensors.get('layer2.0.downsample.0.weight')!.shape).toEqual([2 * width, width, 1, 1]);
      }
    });
  }
});

describe('malformed safetensors files', () => {
  const good = () =>
    encodeSafetensors({ a: { shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }, b: { shape: [3], data: Int32Array.of(1, 2, 3) } });
  const f32 = (begin: number, end: number, shape: number[] = [(end - begin) / 4]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

  const cases: [string, () => Uint8Array, RegExp][] = [
    ['shorter than 8 bytes', () => Uint8Array.of(1, 2, 3), /file is 3 bytes, shorter than the 8-byte header length/],
    ['header length beyond the file', () => good().subarray(0, 20), /header length \d+ runs past the end of the file \(20 bytes\)/],
    ['header not JSON', () => rawFile(null, undefined, '{"a": {"dtype": '), /header is not valid UTF-8 JSON/],
    ['header an array', () => rawFile([1, 2]), /header is not a JSON object/],
    ['unknown dtype', () => rawFile({ a: { dtype: 'BF16', shape: [1], data_offsets: [0, 2] } }, new Uint8Array(2)), /tensor 'a': unsupported dtype "BF16"/],
    ['negative dimension', () => rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 'a': shape \[-1\] is not a list of non-negative integers/],
    ['fractional dimension', () => rawFile({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, new Uint8Array(4)), /shape \[1.5\] is not a list/],
    ['shape not a list', () => rawFile({ a: { dtype: 'F32', shape: '4', data_offsets: [0, 4] } }, new Uint8Array(4)), /shape "4" is not a list/],
    ['offsets reversed', () => rawFile({ a: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4)), /data_offsets \[4,0\] is not \[begin, end\]/],
    ['offsets not a pair', () => rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, new Uint8Array(4)), /data_offsets \[0\] is not \[begin, end\]/],
    ['byte length not shape x itemsize', () => rawFile({ a: f32(0, 8, [3]) }, new Uint8Array(8)), /tensor 'a': data_offsets \[0, 8\] span 8 bytes, but F32 shape \[3\] needs 12/],
    ['offsets beyond the buffer', () => rawFile({ a: f32(0, 8), b: f32(8, 16) }, new Uint8Array(12)), /tensor 'b': data_offsets \[8, 16\] run past the 12-byte data buffer/],
    ['overlapping tensors', () => rawFile({ a: f32(0, 8), b: f32(4, 12) }, new Uint8Array(12)), /tensors 'a' and 'b' overlap/],
    ['a gap', () => rawFile({ a: f32(0, 4), b: f32(8, 12) }, new Uint8Array(12)), /bytes \[4, 8\) of the data buffer belong to no tensor/],
    ['trailing bytes', () => rawFile({ a: f32(0, 4) }, new Uint8Array(6)), /2 trailing bytes after the last tensor/],
    ['metadata not strings', () => rawFile({ __metadata__: { epoch: 3 } }), /__metadata__ value for 'epoch' is not a string/],
    ['truncated file', () => good().subarray(0, good().length - 5), /tensor 'b': data_offsets \[16, 28\] run past the 23-byte data buffer/],
    // JSON.parse keeps the last of duplicate keys; the file would load whichever tensor came last
    [
      'a tensor named twice',
      () => rawFile(null, new Uint8Array(8), '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'),
      /the header names 'a' twice/,
    ],
    [
      'a metadata key given twice',
      () => rawFile(null, undefined, '{"__metadata__": {"hesse.model": "{\\"arch\\": \\"mlp\\"}", "hesse.model": "x"}}'),
      /the header's '__metadata__' names 'hesse\.model' twice/,
    ],
    ['__metadata__ given twice', () => rawFile(null, undefined, '{"__metadata__": {"a": "1"}, "__metadata__": {"b": "2"}}'), /the header names '__metadata__' twice/],
    [
      'a key spelled twice with an escape',
      () => rawFile(null, new Uint8Array(4), '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "\\u0077": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'),
      /names 'w' twice/,
    ],
  ];

  for (const [what, make, problem] of cases) {
    it(`rejects ${what} naming the file`, async () => {
      const path = join(dir, `bad-${what.replace(/\W+/g, '-')}.safetensors`);
      await writeFile(path, make());
      const err = await readSafetensors(path).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FileFormatError);
      expect((err as Error).message).toContain(path);
      expect((err as Error).message).toMatch(problem);
    });
  }

  it('names a missing file', async () => {
    const path = join(dir, 'nope.safetensors');
    await expect(readSafetensors(path)).rejects.toThrow(new FileFormatError(`${path}: no such file`));
  });

  it('accepts the good file the malformed ones are cut from', () => {
    expect([...parseSafetensors(good()).tensors.keys()]).toEqual(['a', 'b']);
  });
});

describe('dtype helpers', () => {
  const t = (dtype: StoredTensor['dtype'], data: StoredData): StoredTensor => ({ dtype, shape: [data.length], data });

  it('asFloat32 passes F32 through, rounds F64 and refuses integers', () => {
    const a = Float32Array.of(1.5);
    expect(asFloat32(t('F32', a))).toBe(a);
    expect(Array.from(asFloat32(t('F64', Float64Array.of(0.1))))).toEqual([Math.fround(0.1)]);
    expect(() => asFloat32(t('I64', BigInt64Array.of(1n)), 'conv1.weight')).toThrow(new DTypeError('conv1.weight has dtype I64; a floating-point tensor (F32 or F64) is needed'));
    expect(asTensor({ dtype: 'F32', shape: [1, 2], data: Float32Array.of(1, 2) }).shape).toEqual([1, 2]);
  });

  it('asInt32Labels converts I64, I32 and U8 and checks the range', () => {
    expect(Array.from(asInt32Labels(t('I64', BigInt64Array.of(0n, 9n, 2147483647n))))).toEqual([0, 9, 2147483647]);
    expect(Array.from(asInt32Labels(t('I32', Int32Array.of(3, 4))))).toEqual([3, 4]);
    expect(Array.from(asInt32Labels(t('U8', Uint8Array.of(255))))).toEqual([255]);
    expect(() => asInt32Labels(t('I64', BigInt64Array.of(2147483648n)), 'y')).toThrow(/y: value 2147483648 at index 0 is not a class label/);
    expect(() => asInt32Labels(t('I32', Int32Array.of(1, -1)), 'y')).toThrow(/value -1 at index 1/);
    expect(() => asInt32Labels(t('F32', Float32Array.of(1)), 'y')).toThrow(DTypeError);
  });
});
