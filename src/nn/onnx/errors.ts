import { FileFormatError } from '../../errors.js';

/** A graph that uses an operator, or an operator setting, that hesse cannot differentiate. */
export class UnsupportedGraphError extends FileFormatError {}
