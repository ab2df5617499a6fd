/**
 * Typed errors for mistakes a user can make. The CLI prints `message` alone (no stack) for any
 * HesseError; anything else is a bug and is shown with its stack.
 */
export class HesseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Two shapes that must agree do not. */
export class ShapeError extends HesseError {}

/** A value of the wrong element type (a float where an integer label is needed, an unknown dtype). */
export class DTypeError extends HesseError {}

/** A file that is missing, truncated or malformed. The message names the file. */
export class FileFormatError extends HesseError {}

/** A loss or product that became NaN or infinite. */
export class NonFiniteError extends HesseError {}

/** An option or argument outside what is accepted. */
export class OptionError extends HesseError {}
