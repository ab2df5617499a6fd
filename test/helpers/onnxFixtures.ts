import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors, type SafetensorsFile, type StoredTensor } from '../../src/io/safetensors.js';
import type { Batch } from '../../src/nn/index.js';
import { Tensor } from '../../src/tensor/index.js';

/** The ONNX parity fixtures written by scripts/fixtures/make_onnx_fixtures.py. */
export const onnxFixtureDir = fileURLToPath(new URL('../fixtures/onnx/', import.meta.url));

export interface OnnxCaseMode {
  loss: number;
  grad_norm?: number;
  hvp_norm?: number;
  top_eigenvalue?: number;
  eigenvalue_source?: string;
}

export interface OnnxCase {
  onnx: string;
  file: string;
  opset: number;
  n_params: number;
  param_order: string[];
  ops: string[];
  modes: Record<string, OnnxCaseMode>;
  note: string;
}

export const onnxIndex: { torch: string; onnx: string; cases: Record<string, OnnxCase> } = JSON.parse(readFileSync(join(onnxFixtureDir, 'index.json'), 'utf8'));

export async function onnxCase(name: string): Promise<{ meta: OnnxCase; file: SafetensorsFile; onnxPath: string }> {
  const meta = onnxIndex.cases[name];
  if (!meta) throw new Error(`no ONNX fixture ${name}`);
  return { meta, file: await readSafetensors(join(onnxFixtureDir, meta.file)), onnxPath: join(onnxFixtureDir, meta.onnx) };
}

function numbers(t: StoredTensor): Float64Array {
  return Float64Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** The fixture's batch: float or integer inputs, integer labels (−100 marks ignored tokens) or float targets. */
export function fixtureBatch(file: SafetensorsFile): Batch {
  const x = file.tensors.get('input.x')!;
  const y = file.tensors.get('target.y')!;
  const integerInput = x.dtype === 'I64' || x.dtype === 'I32';
  const batch: Batch = {
    x: new Tensor(x.shape, Float32Array.from(numbers(x))),
    y: y.dtype === 'I64' || y.dtype === 'I32' ? Int32Array.from(numbers(y)) : Float32Array.from(numbers(y)),
    yShape: y.shape,
  };
  if (integerInput) batch.xKind = 'int';
  return batch;
}

export function expected(file: SafetensorsFile, key: string): Float64Array | undefined {
  const t = file.tensors.get(key);
  return t ? numbers(t) : undefined;
}

// The integer hash the fixture script uses (murmur3's finaliser), bit for bit.
function mix32(h: number): number {
  h >>>= 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function hashAt(i: number, stream: number): number {
  return mix32((Math.imul(i, 0x9e3779b1) + Math.imul(stream, 0x632be5ab) + 1) >>> 0);
}

/** The fixture's direction v: values in (−1, 1) on a 2⁻²³ grid, exact in float32. */
export function fixtureDirection(n: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (hashAt(i, 7) >>> 8) / 2 ** 23 - 1;
  return v;
}

export const SKETCH_ROWS = 256;

/** S·a for the fixture's 256 × n matrix of ±1 entries (random projections keep the ResNet files small). */
export function sketch(a: ArrayLike<number>): Float64Array {
  const out = new Float64Array(SKETCH_ROWS);
  for (let r = 0; r < SKETCH_ROWS; r++) {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += (hashAt(i, 1000 + r) >>> 31 ? 1 : -1) * a[i]!;
    out[r] = s;
  }
  return out;
}

/**
 * ||a − b|| / ||b|| against a full reference vector, or, where the fixture keeps only a sketch,
 * ||S a − S b|| / ||S b||: for 256 random ±1 rows this is the true relative error up to a factor
 * near 1 (Johnson-Lindenstrauss), so a wrong block of the vector cannot hide in it.
 */
export function relativeErrorTo(a: ArrayLike<number>, file: SafetensorsFile, key: string): number {
  const full = expected(file, key);
  const [x, y] = full ? [a, full] : [sketch(a), expected(file, `${key}.sketch`)!];
  let num = 0, den = 0;
  for (let i = 0; i < y.length; i++) {
    num += (x[i]! - y[i]!) ** 2;
    den += y[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
