/**
 * JSON text for a results object: indented for people, but an array of numbers stays on one line
 * (a 10,000-point density grid would otherwise take 10,000 lines). Non-finite numbers become null,
 * as JSON.stringify would write them; the reader turns them back into NaN.
 */
export function resultsToJson(value: unknown): string {
  return `${serialize(value, '')}\n`;
}

function isNumberLike(v: unknown): boolean {
  return typeof v === 'number' || v === null;
}

function serialize(value: unknown, indent: string): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every(isNumberLike)) return `[${value.map((v) => JSON.stringify(v)).join(',')}]`;
    const inner = `${indent}  `;
    return `[\n${value.map((v) => inner + serialize(v ?? null, inner)).join(',\n')}\n${indent}]`;
  }
  if (typeof value === 'object' && value !== null) {
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
      return serialize((value as { toJSON(): unknown }).toJSON(), indent);
    }
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      return serialize(Array.from(value as unknown as ArrayLike<number>), indent);
    }
    const entries = Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== 'function');
    if (entries.length === 0) return '{}';
    const inner = `${indent}  `;
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${serialize(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  if (value === undefined || typeof value === 'function') return 'null';
  return JSON.stringify(value);
}
