import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimStudyFolder, resolveStudySettings } from '../../src/api/studySettings.js';
import { studySettings } from '../../src/api/study.js';
import { CONFIRM_ABOVE_HOURS, estimateDecision, estimateLine, studyOptions } from '../../src/cli/commands/study.js';
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

describe('hesse study: the defaults', () => {
  it("no flags but the study: the library's defaults (depths 20,32,38,56, a Hessian batch of 200, CIFAR-10, seed 0, a quarter of the epochs)", () => {
    const o = studyOptions('bn-residual', { out: 'x', png: true, augment: true, coldCheck: true }, { given: () => false });
    const s = studySettings(o);
    expect(s).toEqual(studySettings({}));
    expect([s.depths, s.hessianBatch, s.data, s.seeds, s.analyzeEvery, s.augment, s.coldStartCheck]).toEqual([[20, 32, 38, 56], 200, 'cifar10', [0], 45, true, true]);
    // --epochs alone: checkpoints every quarter of them
    expect(studySettings(studyOptions('bn-residual', { out: 'x', png: true, augment: true, coldCheck: true, epochs: 8 }, { given: () => false })).analyzeEvery).toBe(2);
  });
});

describe('hesse study: the estimate and the confirmation', () => {
  const off = { estimateOnly: false, yes: false, quiet: false, stdinTTY: false, stderrTTY: false };
  const terminal = { ...off, stdinTTY: true, stderrTTY: true };
  const days = { wallHours: 94 * 24 };

  it('asks for no confirmation when not on a terminal, however long the study', () => {
    expect(estimateDecision(days, off)).toBe('start');
    // one of the two not a terminal is enough
    expect(estimateDecision(days, { ...off, stdinTTY: true })).toBe('start');
    expect(estimateDecision(days, { ...off, stderrTTY: true })).toBe('start');
  });

  it('on a terminal: asks before a study longer than 10 minutes, unless told yes (or quiet)', () => {
    expect(CONFIRM_ABOVE_HOURS).toBe(1 / 6);
    expect(estimateDecision(days, terminal)).toBe('ask');
    expect(estimateDecision({ wallHours: 11 / 60 }, terminal)).toBe('ask');
    expect(estimateDecision({ wallHours: 9 / 60 }, terminal)).toBe('start');
    expect(estimateDecision(days, { ...terminal, yes: true })).toBe('start');
    expect(estimateDecision(days, { ...terminal, quiet: true })).toBe('start');
  });

  it('--estimate stops after the estimate, on a terminal or not, with --yes or not', () => {
    for (const o of [off, terminal, { ...terminal, yes: true }]) {
      expect(estimateDecision(days, { ...o, estimateOnly: true })).toBe('stop');
      expect(estimateDecision({ wallHours: 0 }, { ...o, estimateOnly: true })).toBe('stop');
    }
  });

  it('the line: compute for the runs, wall time on the workers', () => {
    const e = { computeHours: 94 * 24, wallHours: 30, workers: 96, runs: 96, basis: 'by hand' };
    expect(estimateLine(e)).toBe('estimated cost: 94.0 days of compute for 96 runs, about 30.0 h on 96 workers (by hand)');
    expect(estimateLine({ ...e, computeHours: 20 / 3600, wallHours: 20 / 3600, workers: 1, runs: 1 })).toBe('estimated cost: 20 s of compute for 1 run, about 20 s on 1 worker (by hand)');
    expect(estimateLine({ ...e, computeHours: 0.5, wallHours: 0.25, workers: 2, runs: 4 })).toBe('estimated cost: 30 min of compute for 4 runs, about 15 min on 2 workers (by hand)');
  });

  it('hesse study --estimate prints the estimate for the workers given and exits 0, training nothing and writing nothing', async () => {
    const dir = join(root, 'estimate-only');
    const r = await hesse(['study', 'bn-residual', '--preset', 'smoke', '--depths', '8', '--variants', 'bn-res,nobn-res,bn-nores', '--parallel', '2', '--estimate', '--out', dir], {
      killAfterMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/estimated cost: .* of compute for 3 runs, about .* on 2 workers \(measured here: ResNet-8 at /);
    // nothing trained, nothing printed as results
    expect(r.stderr).not.toMatch(/training ResNet|after epoch/);
    expect(r.stdout).toBe('');
    expect(existsSync(dir)).toBe(false);
  });
});
