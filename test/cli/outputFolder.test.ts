import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/io/checkpoint.js';
import { resnet } from '../../src/nn/index.js';
import { readResults } from '../../src/report/index.js';
import { hesse } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-out-'));
const model = join(dir, 'r8.safetensors');
const analyze = (out: string, ...more: string[]) => ['analyze', '--model', model, '--data', 'synthetic:16', '--batch', '8', '--eigen', '1', '--out', out, '--no-png', '--quiet', ...more];

beforeAll(async () => {
  await saveModel(model, resnet({ depth: 8, width: 2, seed: 1 }));
});

describe('--out never overwrites or deletes what hesse did not write', () => {
  it('refuses a folder with files of its own, naming the folder and a file, and changes nothing in it', async () => {
    const out = join(dir, 'mine');
    mkdirSync(out);
    writeFileSync(join(out, 'index.html'), 'my own page');
    const r = await hesse(analyze(out));
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^hesse: .*mine.*index\.html/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toBe('my own page');
    expect(existsSync(join(out, 'results.json'))).toBe(false);
  });

  it('with --force writes into such a folder, leaving the files it does not write alone', async () => {
    const out = join(dir, 'forced');
    mkdirSync(out);
    writeFileSync(join(out, 'notes.txt'), 'keep me');
    const r = await hesse(analyze(out, '--force'));
    expect(r.code, r.stderr).toBe(0);
    expect((await readResults(out)).command).toBe('analyze');
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('keep me');
  });

  it('reuses a folder of an earlier run, and removes only the plot files an earlier report there wrote', async () => {
    const out = join(dir, 'again');
    expect((await hesse(analyze(out, '--density', '--density-steps', '5'))).code).toBe(0);
    expect(existsSync(join(out, 'plots/esd.svg'))).toBe(true);
    // a file named like a plot hesse did not draw here (no landscape ran)
    writeFileSync(join(out, 'plots/landscape-1d.svg'), '<svg>mine</svg>');
    const r = await hesse(analyze(out));
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(out, 'plots/esd.svg'))).toBe(false);
    expect(readFileSync(join(out, 'plots/landscape-1d.svg'), 'utf8')).toBe('<svg>mine</svg>');
  });

  it('fails at once, in one line, where no folder can be made (/proc, a path through a file)', async () => {
    for (const out of ['/proc/hesse-out', join(model, 'sub')]) {
      const r = await hesse(analyze(out), { killAfterMs: 20_000 });
      expect(r.code, `${out}: ${r.stderr}`).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(out);
    }
  });
});
