/**
 * Bit patterns of float32 or float64 values (two 32-bit words per float64), so that -0 and +0
 * (and NaN payloads) count as different.
 */
export const bits = (a: Float32Array | Float64Array): number[] =>
  Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length * (a.BYTES_PER_ELEMENT / 4)));
