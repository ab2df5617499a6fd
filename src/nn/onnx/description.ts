import type { ParamKind } from '../module.js';

/** Element types as the graph executor tells them apart (ONNX's many integer types are one). */
export type GraphDType = 'float' | 'int' | 'bool';

/** A small constant written out in the description (JSON): folded shape arithmetic, Constant nodes. */
export interface LiteralTensor {
  dtype: GraphDType;
  shape: number[];
  data: number[];
}

export type AttributeValue = number | number[] | string | string[] | LiteralTensor;

/** One ONNX node as the executor runs it: the operator, value names in and out, attributes as plain values. */
export interface GraphNode {
  name: string;
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttributeValue>;
}

export interface GraphInput {
  name: string;
  dtype: GraphDType;
  /** static sizes as numbers, symbolic ones (a dynamic batch) by their name */
  dims: (number | string)[];
}

/**
 * An imported graph, complete enough to rebuild the model anywhere (a worker gets it in the model
 * blob's metadata): the nodes left after constant folding, the trainable parameters, the buffers
 * (BN running statistics, masks, integer tables), and the small folded constants.
 */
export interface OnnxDescription {
  arch: 'onnx';
  /** the graph's name or the file's */
  name: string;
  opset: number;
  input: GraphInput;
  /** the output the loss reads (the first graph output) and its declared dims */
  output: { name: string; dims: (number | string)[] };
  nodes: GraphNode[];
  params: { name: string; shape: number[]; kind: ParamKind }[];
  buffers: { name: string; shape: number[]; dtype: GraphDType }[];
  literals: Record<string, LiteralTensor>;
}
