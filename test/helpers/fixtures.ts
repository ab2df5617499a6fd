import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors, type SafetensorsFile } from '../../src/io/safetensors.js';

/** The PyTorch reference fixtures, written by scripts/fixtures/make_reference_fixtures.py (see the README there). */
export const referenceDir = fileURLToPath(new URL('../fixtures/reference/', import.meta.url));

export interface CaseMeta {
  file: string;
  mode: 'train' | 'eval';
  n_params: number;
  param_order: string[];
  /** input.x's shape: [batch, features] for the MLPs, [batch, 3, H, W] for the ResNets */
  input_shape: number[];
  classes: number;
  expected_loss: number;
  /** MLPs: every eigenvalue of the dense Hessian, descending */
  eigenvalues_desc?: number[];
  /** ResNet-8 cases: the 5 largest eigenvalues of the dense Hessian, descending */
  top_eigenvalues?: number[];
  /** ResNet-8 cases: the 3 smallest, ascending */
  smallest_eigenvalues?: number[];
  /** Σ e_iᵀ H e_i over every unit vector (MLP and ResNet-8 cases) */
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
