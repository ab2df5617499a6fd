import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * DESIGN.md's layers, each importing only from those before it. linalg sits before curvature:
 * it knows nothing about networks (issue 4), and the curvature operators implement its
 * LinearOperator. api (what the commands run) sits between report and cli.
 */
const ORDER = ['errors.ts', 'tensor', 'kernels', 'autodiff', 'ops', 'nn', 'data', 'train', 'io', 'linalg', 'curvature', 'landscape', 'parallel', 'report', 'api', 'cli', 'index.ts'];

const src = fileURLToPath(new URL('../src/', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function layerOf(path: string): string {
  return relative(src, path).split('/')[0]!;
}

describe('layers', () => {
  it('every import points to the same layer or one listed before it', () => {
    const wrong: string[] = [];
    for (const file of files(src)) {
      const from = ORDER.indexOf(layerOf(file));
      expect(from, `${file} is in no known layer`).toBeGreaterThanOrEqual(0);
      for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const target = join(file, '..', m[1]!).replace(/\.js$/, '.ts');
        const to = ORDER.indexOf(layerOf(target));
        if (to > from) wrong.push(`${relative(src, file)} imports ${relative(src, target)}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
