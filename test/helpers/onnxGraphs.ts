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

const int64 = (v: number): TensorSpec => ({ dims: [], type: 7, data: [v] });

/**
 * Shape arithmetic of the kind exporters write, on an input ['n', 3, 4] and a parameter w [3, 4]:
 * the last dimension read by Shape and Gather, Range over it, Cast to float, Equal and Not on the
 * range, ConstantOfShape of the shape, and Where choosing between x·w and that constant. With
 * `fromInput` the shape is the input's (folded on the first pass with each input shape); without,
 * it is an int64 initialiser's (folded when the file loads). The numbers are the same.
 */
export function shapeArithmeticGraph(fromInput: boolean): GraphSpec {
  return {
    opset: 17,
    input: { name: 'x', dims: ['n', 3, 4] },
    output: 'y',
    initializers: {
      w: { dims: [3, 4], data: [0.3, -0.7, 1.1, 0.5, -1.3, 0.9, 0.2, -0.4, 0.8, -0.6, 1.2, -0.1] },
      ...(fromInput ? {} : { like: { dims: [1, 3, 4], type: 7, data: new Array<number>(12).fill(0) } }),
    },
    nodes: [
      { op: 'Shape', inputs: [fromInput ? 'x' : 'like'], outputs: ['s'], attrs: [i('start', 1)] },
      { op: 'Constant', inputs: [], outputs: ['one'], attrs: [tensorAttr('value', int64(1))] },
      { op: 'Constant', inputs: [], outputs: ['zero'], attrs: [tensorAttr('value', int64(0))] },
      { op: 'Constant', inputs: [], outputs: ['two'], attrs: [tensorAttr('value', int64(2))] },
      { op: 'Gather', inputs: ['s', 'one'], outputs: ['len'], attrs: [i('axis', 0)] },
      { op: 'Range', inputs: ['zero', 'len', 'one'], outputs: ['r'] },
      { op: 'Cast', inputs: ['r'], outputs: ['rf'], attrs: [i('to', 1)] },
      { op: 'Equal', inputs: ['r', 'two'], outputs: ['e'] },
      { op: 'Not', inputs: ['e'], outputs: ['keep'] },
      { op: 'ConstantOfShape', inputs: ['s'], outputs: ['c'], attrs: [tensorAttr('value', { dims: [1], data: [0.5] })] },
      { op: 'Mul', inputs: ['x', 'w'], outputs: ['xw'] },
      { op: 'Where', inputs: ['keep', 'xw', 'c'], outputs: ['wh'] },
      { op: 'Add', inputs: ['wh', 'rf'], outputs: ['y'] },
    ],
  };
}
