import { writeFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { ONNX_PROTO } from '../../src/io/onnxSchema.js';

/** Small ONNX models written with the same schema and protobuf library the importer reads them with. */
const ModelProto = protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');

export type Attr = Record<string, unknown>;
export const f = (name: string, v: number): Attr => ({ name, type: 1, f: v });
export const i = (name: string, v: number): Attr => ({ name, type: 2, i: v });
export const s = (name: string, v: string): Attr => ({ name, type: 3, s: new TextEncoder().encode(v) });
export const ints = (name: string, v: number[]): Attr => ({ name, type: 7, ints: v });
export const tensorAttr = (name: string, t: TensorSpec): Attr => ({ name, type: 4, t: tensorProto('', t) });

export interface TensorSpec {
  dims: number[];
  /** ONNX element type: 1 float (default), 7 int64, 9 bool */
  type?: number;
  data: number[];
}

function tensorProto(name: string, t: TensorSpec): Record<string, unknown> {
  const type = t.type ?? 1;
  const base = { name, dims: t.dims, data_type: type };
  if (type === 1) return { ...base, float_data: t.data };
  if (type === 7) return { ...base, int64_data: t.data };
  return { ...base, int32_data: t.data };
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Attr[];
}

export interface GraphSpec {
  opset: number;
  input: { name: string; dims: (number | string)[]; type?: number };
  output: string;
  initializers?: Record<string, TensorSpec>;
  nodes: NodeSpec[];
}

const valueInfo = (name: string, dims: (number | string)[], type = 1) => ({
  name,
  type: { tensor_type: { elem_type: type, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
});

export function encodeGraph(g: GraphSpec): Uint8Array {
  const msg = {
    ir_version: 8,
    producer_name: 'hesse-tests',
    opset_import: [{ domain: '', version: g.opset }],
    graph: {
      name: 'test',
      node: g.nodes.map((n, k) => ({ name: `${n.op}_${k}`, op_type: n.op, input: n.inputs, output: n.outputs, attribute: n.attrs ?? [] })),
      initializer: Object.entries(g.initializers ?? {}).map(([name, t]) => tensorProto(name, t)),
      input: [valueInfo(g.input.name, g.input.dims, g.input.type)],
      output: [{ name: g.output }],
    },
  };
  return ModelProto.encode(ModelProto.fromObject(msg)).finish();
}

export function writeGraph(path: string, g: GraphSpec): string {
  writeFileSync(path, encodeGraph(g));
  return path;
}
