export { Node, Tape, constant, parameter, makeNode, recordOn, activeTape, type Primitive } from './node.js';
export { accumulate } from './accumulate.js';
export { backward } from './backward.js';
export { replayTangents } from './replay.js';
export { valueAndGrad, SecondOrderContext, type Objective, type ObjectiveFn } from './differentiate.js';
export { tangentBuffer, tangentZeros, releaseTangent, withTangentPool, valueBuffer, valueZeros, withValuePool } from './tangentPool.js';
