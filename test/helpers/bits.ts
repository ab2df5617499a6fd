/** Bit patterns of float32 values, so that -0 and +0 (and NaN payloads) count as different. */
export const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
