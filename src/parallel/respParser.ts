/** A RESP2 reply: simple strings, errors, integers, bulk strings (kept as bytes) and arrays. */
export type RespValue = string | number | Buffer | null | RespError | RespValue[];

/** An error reply from the server ('-ERR ...'); inside EXEC results it is a value, elsewhere it rejects. */
export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyError';
  }
}

const CR = 13;
const NEED_MORE = Symbol('need more');

/**
 * Incremental RESP2 parser. Large bulk strings (vectors of megabytes) arrive in many chunks, so
 * chunks are only joined once enough bytes for the pending reply are buffered: joining on every
 * chunk would copy a reply quadratically often.
 */
export class RespParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** bytes that must be buffered before parsing is worth retrying */
  private needed = 1;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** end (in `buf`) of a bulk string found incomplete, -1 when none */
  private neededEnd = -1;

  reset(): void {
    this.chunks = [];
    this.buffered = 0;
    this.needed = 1;
    this.buf = Buffer.alloc(0);
    this.pos = 0;
    this.neededEnd = -1;
  }

  /** Feeds bytes; returns every reply now complete, in order. */
  push(chunk: Buffer): RespValue[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: RespValue[] = [];
    if (this.buffered < this.needed) return out;
    this.buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    this.pos = 0;
    for (;;) {
      const start = this.pos;
      this.neededEnd = -1;
      const v = this.parse();
      if (v === NEED_MORE) {
        this.pos = start;
        break;
      }
      out.push(v);
    }
    const rest = this.buf.subarray(this.pos);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    this.needed = this.neededEnd >= 0 ? Math.max(this.neededEnd - this.pos, this.buffered + 1) : this.buffered + 1;
    return out;
  }

  private line(): string | typeof NEED_MORE {
    const buf = this.buf;
    for (let i = this.pos; i + 1 < buf.length; i++) {
      if (buf[i] === CR && buf[i + 1] === 10) {
        const s = buf.toString('latin1', this.pos, i);
        this.pos = i + 2;
        return s;
      }
    }
    return NEED_MORE;
  }

  private parse(): RespValue | typeof NEED_MORE {
    if (this.pos >= this.buf.length) return NEED_MORE;
    const type = this.buf[this.pos]!;
    this.pos++;
    const head = this.line();
    if (head === NEED_MORE) return NEED_MORE;
    switch (type) {
      case 43: // '+'
        return Buffer.from(head, 'latin1').toString('utf8');
      case 45: // '-'
        return new RespError(Buffer.from(head, 'latin1').toString('utf8'));
      case 58: // ':'
        return Number(head);
      case 36: {
        // '$'
        const len = Number(head);
        if (len < 0) return null;
        if (this.pos + len + 2 > this.buf.length) {
          this.neededEnd = this.pos + len + 2;
          return NEED_MORE;
        }
        const data = this.buf.subarray(this.pos, this.pos + len);
        this.pos += len + 2;
        // a copy: the parser's buffer is reused for the bytes that follow
        return Buffer.from(data);
      }
      case 42: {
        // '*'
        const count = Number(head);
        if (count < 0) return null;
        const items: RespValue[] = [];
        for (let i = 0; i < count; i++) {
          const v = this.parse();
          if (v === NEED_MORE) return NEED_MORE;
          items.push(v);
        }
        return items;
      }
      default:
        throw new RespError(`malformed reply from the server (type byte ${type})`);
    }
  }
}

/** A command's bytes: `*n`, then `$len` and the argument for each argument. */
export function encodeCommand(args: readonly (string | number | Buffer | Uint8Array)[]): Buffer[] {
  const parts: Buffer[] = [];
  let text = `*${args.length}\r\n`;
  for (const a of args) {
    if (typeof a === 'string' || typeof a === 'number') {
      const s = String(a);
      text += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
    } else {
      parts.push(Buffer.from(text + `$${a.byteLength}\r\n`));
      parts.push(Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength));
      text = '\r\n';
    }
  }
  parts.push(Buffer.from(text));
  return parts;
}

/** Bulk strings as UTF-8 text, recursively (what every command but the binary ones wants). */
export function asText(v: RespValue): unknown {
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (Array.isArray(v)) return v.map(asText);
  return v;
}
