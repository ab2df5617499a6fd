export type { OnnxDescription, GraphNode, GraphInput, GraphDType, LiteralTensor, AttributeValue } from './description.js';
export { onnxModel, GraphLayer, type InputKind } from './graphModel.js';
export { foldConstants, runNode, unsupportedOperator } from './execute.js';
export { supportedOperators } from './operators.js';
export { UnsupportedGraphError } from './errors.js';
export { Const } from './values.js';
