import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../src/io/index.js';
import { cliPath } from './cli/run.js';
import { onnxCase } from './helpers/onnxFixtures.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The README's fenced blocks marked `sh test` or `ts test`, which must run as written. */
const blocks = [...readme.matchAll(/```(sh|ts) test\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1] as 'sh' | 'ts', code: m[2]! }));

/** The files the ONNX examples name, from the fixtures: a model exported from PyTorch and the data file beside it. */
const ONNX_EXAMPLES = [
  { fixture: 'vit', model: 'net.onnx', data: 'data.safetensors' },
  { fixture: 'decoder', model: 'lm.onnx', data: 'tokens.safetensors' },
  { fixture: 'mlp_regression', model: 'regressor.onnx', data: 'targets.safetensors' },
];

async function placeOnnxExamples(work: string): Promise<void> {
  for (const e of ONNX_EXAMPLES) {
    const { file, onnxPath } = await onnxCase(e.fixture);
    copyFileSync(onnxPath, join(work, e.model));
    await writeSafetensors(join(work, e.data), { x: file.tensors.get('input.x')!, y: file.tensors.get('target.y')! });
  }
}

describe('README examples run as written', () => {
  it('has examples to run', () => {
    expect(blocks.map((b) => b.lang).sort()).toEqual(['sh', 'sh', 'sh', 'ts']);
    // the ONNX section's commands are among them, not a plain block beside them
    expect(blocks.some((b) => b.lang === 'sh' && /--model net\.onnx/.test(b.code))).toBe(true);
    expect(blocks.some((b) => b.lang === 'sh' && /--ignore-index -100/.test(b.code) && /--loss mse/.test(b.code))).toBe(true);
    expect(readme.split('\n').slice(0, 12).join('\n')).toMatch(/npm install[\s\S]*npm start[\s\S]*npm test/);
  });

  it.each(blocks.filter((b) => b.lang === 'sh').map((b, i) => [i, b.code]))('shell example %i', async (_i, code) => {
    const work = mkdtempSync(join(tmpdir(), 'hesse-readme-'));
    await placeOnnxExamples(work);
    const bin = join(work, 'bin');
    mkdirSync(bin);
    const shim = join(bin, 'hesse');
    writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${cliPath}" "$@"\n`);
    chmodSync(shim, 0o755);
    execFileSync('bash', ['-euo', 'pipefail', '-c', code], {
      cwd: work,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      stdio: 'pipe',
    });
    rmSync(work, { recursive: true, force: true });
  });

  it.each(blocks.filter((b) => b.lang === 'ts').map((b, i) => [i, b.code]))('TypeScript example %i', (_i, code) => {
    // inside the package, so that `import ... from 'hesse'` resolves to this package (self-reference)
    const dir = mkdtempSync(join(root, 'test', '.readme-'));
    const file = join(dir, 'example.ts');
    writeFileSync(file, code);
    try {
      const out = execFileSync(process.execPath, ['--import', 'tsx', file], { cwd: root, stdio: 'pipe' }).toString();
      expect(out.trim().length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
