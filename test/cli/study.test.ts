import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimStudyFolder, resolveStudySettings } from '../../src/api/studySettings.js';
import { hesse } from './run.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hesse-study-cli-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** Runs a study command that must fail at once: exit 1, one line on stderr, nothing on stdout. */
async function refused(args: string[], code = 1): Promise<string> {
  const r = await hesse(['study', ...args], { killAfterMs: 30_000 });
  expect(r.code, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  return lines[0]!;
}

describe('hesse study: bad inputs get one line naming the problem', () => {
  it('an unknown variant, a depth that is not 6n+2, a seed list with a word, an unknown study or preset', async () => {
    const out = ['--out', join(root, 'never')];
    expect(await refused(['bn-residual', '--preset', 'smoke', '--variants', 'bn-res,bn-resid', ...out])).toMatch(/unknown study variant 'bn-resid'; the variants are bn-res, nobn-res/);
    expect(await refused(['bn-residual', '--preset', 'smoke', '--depths', '8,21', ...out])).toMatch(/depth 21 is not a CIFAR ResNet depth; depths are 6n\+2/);
    expect(await refused(['bn-residual', '--preset', 'smoke', '--seeds', '0,one', ...out])).toMatch(/'0,one': 'one' is not an integer/);
    expect(await refused(['bn-residuals', ...out])).toMatch(/unknown study 'bn-residuals'; choose bn-residual/);
    expect(await refused(['bn-residual', '--preset', 'huge', ...out])).toMatch(/unknown preset 'huge'; choose smoke, laptop, paper/);
    expect(await refused(['bn-residual', '--preset', 'smoke', '--full-dataset', '--hessian-batch', '64', ...out])).toMatch(/either a batch .* or the whole training set/);
    expect(await refused(['bn-residual', '--preset', 'smoke', '--epochs', '4', '--analyze-every', '6', ...out])).toMatch(/every 6 epochs is more than the 4 epochs/);
    expect(await refused(['bn-residual', '--preset', 'smoke', '--parallel', '0', ...out])).toMatch(/parallel must be an integer of at least 1, got '0'/);
    // nothing of these was started
    await expect(readdir(join(root, 'never'))).rejects.toThrow();
  });

  it("a study folder holding another study's settings is refused, naming the file and the setting; nothing in it is touched", async () => {
    const dir = join(root, 'other');
    await claimStudyFolder(dir, resolveStudySettings({ preset: 'smoke' }));
    const before = await readFile(join(dir, 'study.json'), 'utf8');
    const line = await refused(['bn-residual', '--preset', 'smoke', '--seeds', '0,1', '--out', dir]);
    expect(line).toContain(join(dir, 'study.json'));
    expect(line).toMatch(/whose seeds is \[0\], but \[0,1\] was asked for; continue it with its own settings, or give another output folder/);
    expect(await readFile(join(dir, 'study.json'), 'utf8')).toBe(before);
    expect(await readdir(dir)).toEqual(['study.json']);
  });

  it('--summary of a folder without a study names the missing study.json', async () => {
    expect(await refused(['bn-residual', '--summary', '--out', join(root, 'empty')])).toMatch(/study\.json is missing; give the folder a hesse study wrote/);
  });
});
