/**
 * ONNX import: a `.onnx` file (protobuf, decoded by protobufjs with ONNX's own schema) becomes a
 * hesse model whose flat parameter vector holds the graph's trainable tensors.
 *
 * Which initialisers are parameters: every float initialiser, in the graph's order and under its
 * ONNX name (PyTorch's exporter keeps the state-dict names), except
 * - the running mean and variance of BatchNormalization (its inputs 3 and 4),
 * - integer and boolean tensors (indices, shapes, masks),
 * - tensors holding non-finite values (an additive −inf attention mask),
 * - tensors read only as a shape, index, axis, padding or condition input,
 * - names the caller freezes.
 * Those are buffers. Subgraphs of constants (Constant nodes, masks) are folded here; shape
 * arithmetic that reads the input's shape is folded on the first pass with each input shape
 * (`GraphLayer` in nn/onnx), off the tape.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import protobuf from 'protobufjs';
import { constant } from '../autodiff/index.js';
import { FileFormatError, HesseError } from '../errors.js';
import { Tensor } from '../tensor/index.js';
import {
  Const,
  foldConstants,
  onnxModel,
  supportedOperators,
  UnsupportedGraphError,
  unsupportedOperator,
  type AttributeValue,
  type GraphDType,
  type GraphNode,
  type LiteralTensor,
  type OnnxDescription,
  type ParamKind,
} from '../nn/index.js';
import type { LoadedModel } from './checkpoint.js';
import { ONNX_PROTO } from './onnxSchema.js';
import type { StoredTensor } from './safetensors.js';

export interface OnnxLoadOptions {
  /** initialisers to keep constant although the rule makes them parameters (a fixed position table, say) */
  frozen?: readonly string[];
}

// ---------- protobuf ----------

let modelType: protobuf.Type | undefined;

function modelProto(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

/* The decoded messages, as protobufjs's toObject gives them (int64 as numbers, bytes as Uint8Array). */
interface TensorMsg {
  name?: string;
  dims?: number[];
  data_type?: number;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: number[];
  double_data?: number[];
  uint64_data?: number[];
  raw_data?: Uint8Array;
  data_location?: number;
  external_data?: { key?: string; value?: string }[];
}
interface AttributeMsg {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorMsg;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}
interface NodeMsg {
  name?: string;
  op_type?: string;
  domain?: string;
  input?: string[];
  output?: string[];
  attribute?: AttributeMsg[];
}
interface ValueInfoMsg {
  name?: string;
  type?: { tensor_type?: { elem_type?: number; shape?: { dim?: { dim_value?: number; dim_param?: string }[] } } };
}
interface GraphMsg {
  name?: string;
  node?: NodeMsg[];
  initializer?: TensorMsg[];
  input?: ValueInfoMsg[];
  output?: ValueInfoMsg[];
}
interface ModelMsg {
  ir_version?: number;
  graph?: GraphMsg;
  opset_import?: { domain?: string; version?: number }[];
}

function decodeModel(bytes: Uint8Array, source: string): ModelMsg {
  let msg: ModelMsg;
  try {
    const type = modelProto();
    msg = type.toObject(type.decode(bytes), { longs: Number, bytes: Uint8Array as unknown as typeof String, defaults: false }) as ModelMsg;
  } catch (e) {
    throw new FileFormatError(`${source}: not a readable ONNX model (the protobuf decoder stopped: ${(e as Error).message}); the file is truncated or not ONNX`);
  }
  if (!msg.graph || !msg.ir_version || !(msg.graph.node?.length || msg.graph.output?.length)) {
    throw new FileFormatError(`${source}: not an ONNX model (no graph with nodes and outputs, no IR version); export one with torch.onnx.export`);
  }
  return msg;
}

// ---------- tensors ----------

const FLOAT16 = 10, BFLOAT16 = 16;

function dtypeOf(elemType: number | undefined): GraphDType | undefined {
  switch (elemType) {
    case 1:
    case 11:
    case FLOAT16:
    case BFLOAT16:
      return 'float';
    case 9:
      return 'bool';
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
    case 12:
    case 13:
      return 'int';
    default:
      return undefined;
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** The values of a raw little-endian buffer of ONNX element type `t`. */
function rawValues(raw: Uint8Array, t: number, count: number, what: string): ArrayLike<number> {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const size: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };
  const bytes = size[t];
  if (bytes === undefined) throw new UnsupportedGraphError(`${what}: element type ${t} is not supported`);
  if (raw.byteLength !== bytes * count) throw new FileFormatError(`${what}: ${raw.byteLength} bytes of data for ${count} values of ${bytes} bytes (truncated or corrupt)`);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const o = i * bytes;
    switch (t) {
      case 1: out[i] = view.getFloat32(o, true); break;
      case 11: out[i] = view.getFloat64(o, true); break;
      case 2: case 9: out[i] = view.getUint8(o); break;
      case 3: out[i] = view.getInt8(o); break;
      case 4: out[i] = view.getUint16(o, true); break;
      case 5: out[i] = view.getInt16(o, true); break;
      case 6: out[i] = view.getInt32(o, true); break;
      case 12: out[i] = view.getUint32(o, true); break;
      case 7: out[i] = Number(view.getBigInt64(o, true)); break;
      case 13: out[i] = Number(view.getBigUint64(o, true)); break;
      case FLOAT16: out[i] = halfToFloat(view.getUint16(o, true)); break;
      case BFLOAT16: out[i] = new Float32Array(new Uint32Array([view.getUint16(o, true) << 16]).buffer)[0]!; break;
    }
  }
  return out;
}

async function externalBytes(t: TensorMsg, dir: string, what: string): Promise<Uint8Array> {
  const entry = (k: string) => t.external_data?.find((e) => e.key === k)?.value;
  const location = entry('location');
  if (!location) throw new FileFormatError(`${what}: external data without a location`);
  const file = `${dir}/${location}`;
  let all: Uint8Array;
  try {
    all = await readFile(file);
  } catch {
    throw new FileFormatError(`${what}: cannot read its external data file ${file} (keep it beside the .onnx file)`);
  }
  const offset = Number(entry('offset') ?? 0);
  const length = entry('length') !== undefined ? Number(entry('length')) : all.length - offset;
  if (offset + length > all.length) throw new FileFormatError(`${what}: external data ${file} is shorter than ${offset + length} bytes`);
  return all.subarray(offset, offset + length);
}

function tensorConst(t: TensorMsg, what: string, raw?: Uint8Array): Const {
  const dtype = dtypeOf(t.data_type);
  if (!dtype) throw new UnsupportedGraphError(`${what}: element type ${t.data_type} (strings, complex numbers) is not supported`);
  const shape = (t.dims ?? []).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const type = t.data_type!;
  let values: ArrayLike<number>;
  const bytes = raw ?? t.raw_data;
  if (bytes && bytes.length > 0) values = rawValues(bytes, type, count, what);
  else if (type === 1 && t.float_data?.length) values = t.float_data;
  else if (type === 11 && t.double_data?.length) values = t.double_data;
  else if (type === 7 && t.int64_data?.length) values = t.int64_data;
  else if ((type === 13 || type === 12) && t.uint64_data?.length) values = t.uint64_data;
  else if ((type === FLOAT16 || type === BFLOAT16) && t.int32_data?.length) values = rawValues(new Uint8Array(Uint16Array.from(t.int32_data).buffer), type, count, what);
  else if (t.int32_data?.length) values = t.int32_data;
  else values = [];
  if (values.length !== count) throw new FileFormatError(`${what}: holds ${values.length} values for shape [${shape.join(', ')}] (${count})`);
  return Const.of(dtype, shape, values);
}

function literal(c: Const): LiteralTensor {
  return c.toLiteral();
}

function attributeValue(a: AttributeMsg, what: string): AttributeValue {
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  switch (a.type) {
    case 1: return a.f ?? 0;
    case 2: return Number(a.i ?? 0);
    case 3: return text(a.s ?? new Uint8Array());
    case 4: return literal(tensorConst(a.t ?? {}, `${what} attribute '${a.name}'`));
    case 6: return [...(a.floats ?? [])];
    case 7: return (a.ints ?? []).map(Number);
    case 8: return (a.strings ?? []).map(text);
    default:
      throw new UnsupportedGraphError(`${what}: attribute '${a.name}' has type ${a.type} (subgraphs, sparse tensors), which is not supported`);
  }
}

// ---------- the parameter rule ----------

/** Input slots that read shapes, indices, axes, pads or conditions: data, not trainable. */
const DATA_SLOTS: Record<string, readonly number[]> = {
  Reshape: [1], Slice: [1, 2, 3, 4], Gather: [1], Unsqueeze: [1], Squeeze: [1], Split: [1], ReduceSum: [1], ReduceMean: [1],
  Expand: [1], Tile: [1], Where: [0], Pad: [1, 2, 3], ConstantOfShape: [0], Range: [0, 1, 2], Trilu: [1],
  // a comparison's result is boolean and carries no derivative: what it compares is a mask or a constant
  Equal: [0, 1], Less: [0, 1], Greater: [0, 1], LessOrEqual: [0, 1], GreaterOrEqual: [0, 1],
  // Dropout is the identity here; its ratio and training-mode inputs are settings
  Dropout: [1, 2],
};

/** Operators that move or reshape their first input: a tensor read through them is data when what they give is. */
const PASS_THROUGH = new Set(['Identity', 'Cast', 'Slice', 'Reshape', 'Unsqueeze', 'Squeeze', 'Expand', 'Transpose']);

type Use = { node: GraphNode; slot: number };

function usesOf(nodes: readonly GraphNode[]): Map<string, Use[]> {
  const uses = new Map<string, Use[]>();
  for (const node of nodes) node.inputs.forEach((name, slot) => name && uses.set(name, [...(uses.get(name) ?? []), { node, slot }]));
  return uses;
}

/** The node that writes each value. */
function producersOf(nodes: readonly GraphNode[]): Map<string, GraphNode> {
  const producer = new Map<string, GraphNode>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
  return producer;
}

/** What a parameter is, from the operator that reads it (through Identity and Transpose). */
function kindOf(name: string, uses: Map<string, Use[]>, producer: Map<string, GraphNode>): ParamKind {
  const made = (v: string | undefined, ...opTypes: string[]) => !!v && opTypes.includes(producer.get(v)?.op ?? '');
  const other = (u: Use) => u.node.inputs[1 - u.slot];
  const isLayerNormScale = (v: string | undefined) => {
    const div = v ? producer.get(v) : undefined;
    const sub = div?.op === 'Div' ? producer.get(div.inputs[0]!) : undefined;
    return sub?.op === 'Sub' && made(sub.inputs[1], 'ReduceMean');
  };
  const seen = new Set<string>();
  const visit = (v: string): ParamKind | undefined => {
    if (seen.has(v)) return undefined;
    seen.add(v);
    for (const u of uses.get(v) ?? []) {
      const { node, slot } = u;
      switch (node.op) {
        case 'Identity':
        case 'Transpose':
        case 'Cast': {
          const k = visit(node.outputs[0]!);
          if (k) return k;
          break;
        }
        case 'Conv':
          return slot === 2 ? 'conv.bias' : 'conv.weight';
        case 'Gemm':
          return slot === 2 ? 'linear.bias' : 'linear.weight';
        case 'MatMul':
          return 'linear.weight';
        case 'BatchNormalization':
          return slot === 2 ? 'bn.bias' : 'bn.weight';
        case 'LayerNormalization':
          return slot === 2 ? 'ln.bias' : 'ln.weight';
        case 'Gather':
          if (slot === 0) return 'embedding.weight';
          break;
        case 'Add':
          if (made(other(u), 'MatMul', 'Gemm')) return 'linear.bias';
          if (made(other(u), 'Conv')) return 'conv.bias';
          if (made(other(u), 'Mul') && isLayerNormScale(producer.get(other(u)!)!.inputs.find((i) => made(i, 'Div')))) return 'ln.bias';
          break;
        case 'Mul':
          if (isLayerNormScale(other(u))) return 'ln.weight';
          break;
      }
    }
    return undefined;
  };
  return visit(name) ?? 'other';
}

// ---------- the graph ----------

function inputInfo(v: ValueInfoMsg, source: string) {
  const tt = v.type?.tensor_type;
  const dtype = dtypeOf(tt?.elem_type);
  if (!dtype) throw new UnsupportedGraphError(`${source}: the graph input '${v.name}' has element type ${tt?.elem_type}, not a number type`);
  const dims = (tt?.shape?.dim ?? []).map((d) => (d.dim_value !== undefined && Number(d.dim_value) > 0 ? Number(d.dim_value) : d.dim_param || '?'));
  return { name: v.name!, dtype, dims };
}

/** Rewrites MatMul(x, Transpose(W)) with W 2-D into one product that reads W transposed: no copy of W per pass. */
function fuseTransposedWeights(nodes: GraphNode[], keep: ReadonlySet<string>): GraphNode[] {
  const uses = usesOf(nodes);
  const drop = new Set<GraphNode>();
  for (const node of nodes) {
    if (node.op !== 'MatMul') continue;
    const t = nodes.find((n) => n.outputs[0] === node.inputs[1]);
    const perm = t?.attrs.perm;
    if (!t || t.op !== 'Transpose' || !Array.isArray(perm) || perm.length !== 2 || perm[0] !== 1 || keep.has(t.outputs[0]!)) continue;
    if ((uses.get(t.outputs[0]!) ?? []).length !== 1) continue;
    node.inputs = [node.inputs[0]!, t.inputs[0]!];
    node.attrs = { ...node.attrs, _transB: 1 };
    drop.add(t);
  }
  return nodes.filter((n) => !drop.has(n));
}

/**
 * Folds a Relu into the Add or BatchNormalization before it (attribute _relu): hesse's one-pass
 * relu(a + b) and batch norm + ReLU primitives, the same numbers as the two nodes. Only where the
 * producer's value goes to that Relu alone and is not a graph output.
 */
function fuseRelu(nodes: GraphNode[], keep: ReadonlySet<string>): GraphNode[] {
  const uses = usesOf(nodes);
  const producer = producersOf(nodes);
  const used = (name: string) => keep.has(name) || (uses.get(name) ?? []).length > 0;
  const drop = new Set<GraphNode>();
  for (const relu of nodes) {
    if (relu.op !== 'Relu' || !relu.inputs[0] || !relu.outputs[0]) continue;
    const p = producer.get(relu.inputs[0]);
    if (!p || (p.op !== 'Add' && p.op !== 'BatchNormalization') || p.attrs._relu !== undefined) continue;
    const out = p.outputs[0]!;
    if (keep.has(out) || (uses.get(out) ?? []).length !== 1 || p.outputs.slice(1).some((o) => o && used(o))) continue;
    p.outputs = [relu.outputs[0], ...p.outputs.slice(1)];
    p.attrs = { ...p.attrs, _relu: 1 };
    drop.add(relu);
  }
  return nodes.filter((n) => !drop.has(n));
}

export interface ParsedOnnx {
  description: OnnxDescription;
  /** parameter and buffer values by name */
  tensors: Map<string, StoredTensor>;
  notes: string[];
}

/** Decodes an ONNX model held in memory and maps it onto hesse's engine. `source` names it in errors. */
export async function parseOnnx(bytes: Uint8Array, source: string, opts: OnnxLoadOptions = {}, dir = '.'): Promise<ParsedOnnx> {
  const msg = decodeModel(bytes, source);
  const g = msg.graph!;
  const notes: string[] = [];
  const opset = msg.opset_import?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version;
  if (!opset) throw new FileFormatError(`${source}: the model imports no version of the standard ONNX operator set`);

  const nodes: GraphNode[] = (g.node ?? []).map((n, i) => {
    const name = n.name || `${n.op_type}_${i}`;
    if (n.domain && n.domain !== 'ai.onnx') {
      throw new UnsupportedGraphError(`${source}: node '${name}' uses '${n.op_type}' of the operator domain '${n.domain}'; hesse runs the standard ONNX operators (${supportedOperators.join(', ')})`);
    }
    const attrs: Record<string, AttributeValue> = {};
    for (const a of n.attribute ?? []) attrs[a.name!] = attributeValue(a, `${source}: node '${name}'`);
    return { name, op: n.op_type ?? '', inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs };
  });
  for (const node of nodes) {
    if (!supportedOperators.includes(node.op)) {
      const e = unsupportedOperator(node);
      throw new UnsupportedGraphError(`${source}: ${e.message}`);
    }
  }

  const initializers = new Map<string, Const>();
  for (const t of g.initializer ?? []) {
    const what = `${source}: initialiser '${t.name}'`;
    initializers.set(t.name!, tensorConst(t, what, t.data_location === 1 ? await externalBytes(t, dir, what) : undefined));
  }
  const dataInputs = (g.input ?? []).filter((v) => !initializers.has(v.name!));
  if (dataInputs.length !== 1) {
    throw new UnsupportedGraphError(`${source}: the graph has ${dataInputs.length} data inputs (${dataInputs.map((v) => v.name).join(', ') || 'none'}); hesse feeds one batch tensor`);
  }
  const input = inputInfo(dataInputs[0]!, source);
  const outputs = g.output ?? [];
  if (outputs.length === 0) throw new FileFormatError(`${source}: the graph has no outputs`);
  if (outputs.length > 1) notes.push(`${source}: the graph has ${outputs.length} outputs; the loss reads the first, '${outputs[0]!.name}'`);
  const output = { name: outputs[0]!.name!, dims: (outputs[0]!.type?.tensor_type?.shape?.dim ?? []).map((d) => (d.dim_value && Number(d.dim_value) > 0 ? Number(d.dim_value) : d.dim_param || '?')) };

  // the rule: which initialisers are trainable
  const uses = usesOf(nodes);
  const producer = producersOf(nodes);
  const bnStats = new Set(nodes.filter((n) => n.op === 'BatchNormalization').flatMap((n) => n.inputs.slice(3, 5)));
  const frozen = new Set(opts.frozen ?? []);
  for (const f of frozen) if (!initializers.has(f)) throw new FileFormatError(`${source}: cannot freeze '${f}': no initialiser has that name`);
  const isParameter = (name: string, c: Const) => {
    if (bnStats.has(name) || frozen.has(name) || c.dtype !== 'float') return false;
    for (const v of c.data) if (!Number.isFinite(v)) return false;
    return !dataOnly(name, new Set());
  };
  // read only as a shape, index, axis, condition or comparison operand, directly or through reshapes
  // (a causal mask sliced to the sequence length, then compared with 0)
  const dataOnly = (v: string, seen: Set<string>): boolean => {
    if (seen.has(v)) return true;
    seen.add(v);
    const u = uses.get(v) ?? [];
    return u.length > 0 && u.every(({ node, slot }) => DATA_SLOTS[node.op]?.includes(slot) || (slot === 0 && PASS_THROUGH.has(node.op) && node.outputs.every((o) => dataOnly(o, seen))));
  };

  const known = new Map<string, Const>();
  const paramNames: string[] = [];
  for (const [name, c] of initializers) {
    if (isParameter(name, c)) paramNames.push(name);
    else known.set(name, c);
  }
  const initialBuffers = new Set(known.keys());
  const graphOutputs = new Set(outputs.map((o) => o.name!));
  const kept = fuseRelu(fuseTransposedWeights(foldConstants(nodes, known, opset), graphOutputs), graphOutputs);

  const referenced = new Set(kept.flatMap((n) => n.inputs).filter(Boolean));
  referenced.add(output.name);
  const params = paramNames.filter((name) => {
    if (referenced.has(name)) return true;
    notes.push(`${source}: the initialiser '${name}' is not used by the graph and is left out of the parameters`);
    return false;
  });
  const buffers: OnnxDescription['buffers'] = [];
  const literals: Record<string, LiteralTensor> = {};
  const tensors = new Map<string, StoredTensor>();
  const store = (name: string, c: Const) => tensors.set(name, { dtype: 'F32', shape: [...c.shape], data: c.data instanceof Float32Array ? c.data : Float32Array.from(c.data) });
  for (const name of params) {
    const c = initializers.get(name)!;
    store(name, c);
  }
  for (const [name, c] of known) {
    if (!referenced.has(name)) continue;
    const small = c.size <= 64 && Array.from(c.data).every(Number.isFinite);
    if (small && !initialBuffers.has(name)) {
      literals[name] = c.toLiteral();
      continue;
    }
    buffers.push({ name, shape: [...c.shape], dtype: c.dtype });
    store(name, c);
  }
  const description: OnnxDescription = {
    arch: 'onnx',
    name: basename(source),
    opset,
    input,
    output,
    nodes: kept,
    params: params.map((name) => ({ name, shape: [...initializers.get(name)!.shape], kind: kindOf(name, uses, producer) })),
    buffers,
    literals,
  };
  if (!kept.some((n) => n.op === 'BatchNormalization') && nodes.some((n) => n.op === 'BatchNormalization')) notes.push(`${source}: its batch norm acts on constants only and was folded`);
  return { description, tensors, notes };
}

/**
 * One forward pass on a single sample of zeros, where the input's shape is known but for the
 * batch: an operator setting that cannot be mapped (a pooling window that is not square, say)
 * is refused now, naming the file, rather than at the first batch.
 */
function probe(model: ReturnType<typeof onnxModel>, d: OnnxDescription, path: string): void {
  const dims = d.input.dims.map((x, i) => (i === 0 && typeof x !== 'number' ? 1 : x));
  if (!dims.every((x): x is number => typeof x === 'number' && x > 0)) return;
  try {
    model.forward(model.blocks.map((b) => constant(model.param(b.name))), new Tensor(dims), 'eval');
  } catch (e) {
    if (!(e instanceof HesseError)) throw e;
    const Ctor = e.constructor as new (message: string) => HesseError;
    throw new Ctor(`${path}: ${e.message}`);
  }
}

/**
 * Loads a `.onnx` file as a model: the graph's nodes on hesse's primitives, its trainable
 * initialisers as the flat parameter vector, the rest as buffers.
 */
export async function loadOnnx(path: string, opts: OnnxLoadOptions = {}): Promise<LoadedModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new FileFormatError(`cannot read the ONNX model ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const { description, tensors, notes } = await parseOnnx(bytes, path, opts, dirname(path));
  const model = onnxModel(description);
  for (const p of description.params) model.param(p.name).data.set(tensors.get(p.name)!.data as Float32Array);
  for (const b of description.buffers) model.buffers.get(b.name)!.data.set(tensors.get(b.name)!.data as Float32Array);
  probe(model, description, path);
  const bn = model.hasBatchNorm ? 'with batch norm' : 'without batch norm';
  notes.push(`imported ${path}: ${description.nodes.length} nodes (opset ${description.opset}), ${model.size.toLocaleString('en-US')} parameters in ${description.params.length} tensors, ${description.buffers.length} buffers, ${bn}`);
  // an ONNX file says nothing of how its inputs were normalised: the data's default applies
  return { model, notes, normalization: undefined, metadata: {}, tensors };
}
