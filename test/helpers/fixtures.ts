import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors, type SafetensorsFile } from '../../src/io/safetensors.js';

/** The PyTorch reference fixtures in ../shared/reference (beside the repository). */
export const referenceDir = fileURLToPath(new URL('../../../shared/reference/', import.meta.url));

export interface CaseMeta {
  file: string;
  mode: 'train' | 'eval';
  n_params: number;
  param_order: string[];
  expected_loss: number;
  eigenvalues_desc?: number[];
  top_eigenvalues?: number[];
  trace?: number;
}

export const referenceIndex: { cases: Record<string, CaseMeta> } = JSON.parse(readFileSync(join(referenceDir, 'index.json'), 'utf8'));

export async function loadCase(name: string): Promise<{ meta: CaseMeta; file: SafetensorsFile }> {
  const meta = referenceIndex.cases[name];
  if (!meta) throw new Error(`no reference case ${name}`);
  return { meta, file: await readSafetensors(join(referenceDir, meta.file)) };
}

/** ||a - b|| / ||b|| in float64. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den);
}
