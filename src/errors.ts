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

/**
 * The FileFormatError for a file that could not be opened or read, from the error the file system
 * gave: missing, a directory, or unreadable. `expected` says what the file should have been.
 */
export function unreadableFile(path: string, e: unknown, expected: string): FileFormatError {
  const code = (e as { code?: unknown }).code;
  if (code === 'ENOENT') return new FileFormatError(`${path}: no such file`);
  if (code === 'ENOTDIR') return new FileFormatError(`${path}: no such file (a part of the path is a file, not a folder)`);
  if (code === 'EISDIR') return new FileFormatError(`${path}: is a directory, not ${expected}`);
  return new FileFormatError(`${path}: cannot read (${(e as Error).message})`);
}
