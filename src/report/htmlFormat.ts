/** Text safe to put between tags or inside a double-quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that cannot end the <script> element it sits in. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** A number as a table shows it: integers with separators, others to six significant digits. */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e9)) return v.toExponential(5).replace(/\.?0+e/, 'e');
  return String(Number(v.toPrecision(6)));
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 2 : 0)} ms` : `${(ms / 1000).toFixed(ms < 60_000 ? 2 : 1)} s`;
}

/** Any JSON value in a table cell. */
export function formatValue(v: unknown): string {
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'string') return v;
  if (v === undefined) return '—';
  try {
    return JSON.stringify(v);
  } catch (e) {
    // JSON.stringify recurses: a value nested thousands of levels deep overflows the stack
    if (e instanceof RangeError) return '(nested too deeply to show)';
    throw e;
  }
}

/** A two-column table of names and values; rows whose value is undefined are left out. */
export function keyValueTable(rows: readonly (readonly [string, unknown])[], caption?: string): string {
  const body = rows
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(formatValue(v))}</td></tr>`)
    .join('');
  return `<table class="kv">${caption ? `<caption>${escapeHtml(caption)}</caption>` : ''}<tbody>${body}</tbody></table>`;
}

/** A table with a header row; cells are formatted like keyValueTable's values. */
export function gridTable(headers: readonly string[], rows: readonly (readonly unknown[])[], caption?: string): string {
  const head = headers.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(formatValue(c))}</td>`).join('')}</tr>`).join('');
  return `<table class="grid">${caption ? `<caption>${escapeHtml(caption)}</caption>` : ''}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}
