/**
 * The leaf elements of every Vega mark group of one type ('rect', 'line', 'symbol', 'rule', ...)
 * in a Vega SVG, e.g. one <path> per bar. Vega writes each mark as <g class="mark-TYPE role-mark">
 * holding its items directly, so the items run up to the group's closing tag.
 */
export function markItems(svg: string, type: string): string[] {
  const items: string[] = [];
  const open = new RegExp(`<g class="mark-${type} role-mark[^"]*"[^>]*>`, 'g');
  for (let m = open.exec(svg); m; m = open.exec(svg)) {
    const start = m.index + m[0].length;
    const body = svg.slice(start, svg.indexOf('</g>', start));
    items.push(...(body.match(/<(path|text|line|rect|circle)\b[^>]*?(\/>|>[\s\S]*?<\/\1>)/g) ?? []));
  }
  return items;
}

/** Width and height from a PNG's IHDR chunk (bytes 16-23), after checking the signature. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  signature.forEach((b, i) => {
    if (png[i] !== b) throw new Error(`byte ${i} is ${png[i]}, not the PNG signature's ${b}`);
  });
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  if (String.fromCharCode(...png.subarray(12, 16)) !== 'IHDR') throw new Error('the first PNG chunk is not IHDR');
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
