import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface TorchFigures {
  torch: string;
  batch: number;
  threads: number;
  forward_s: number;
  grad_s: number;
  hvp_cached_graph_s: number;
  hvp_from_scratch_s: number;
}

/**
 * PyTorch on the same ResNet-20 definition and batch size (../shared/anchors/torch_hvp_bench.py):
 * forward, gradient and PyHessian-style Hessian-vector products. Needs Debian's python3-torch
 * (apt-get install python3-torch); returns undefined without it.
 */
export function torchFigures(batch: number, threads = 2): TorchFigures | undefined {
  const script = fileURLToPath(new URL('../../shared/anchors/torch_hvp_bench.py', import.meta.url));
  if (!existsSync('/usr/bin/python3') || !existsSync(script)) return undefined;
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const out = execFileSync('/usr/bin/python3', [script, '--batch', String(batch), '--threads', String(threads), '--n', '5'], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!) as TorchFigures;
}
