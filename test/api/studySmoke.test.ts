import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { study } from '../../src/api/study.js';
import { hessianOperator } from '../../src/curvature/index.js';
import { CIFAR10_NORMALIZATION, ImageDataset, normalizeInPlace, synthetic } from '../../src/data/index.js';
import { loadTrainState, readSafetensors } from '../../src/io/index.js';
import { rebuildReport, type HesseResults, type StudyRunResult } from '../../src/report/index.js';
import { hesse } from '../cli/run.js';

const CHROMIUM = '/usr/bin/chromium';
const noChromium = !existsSync(CHROMIUM) && process.env.HESSE_REQUIRE_CHROMIUM !== '1';
if (noChromium) console.warn(`study report browser check skipped: ${CHROMIUM} not found (set HESSE_REQUIRE_CHROMIUM=1 to fail instead)`);

/** A run's numbers, without what a clock or a process decides (times, sessions). */
function numbers(r: StudyRunResult) {
  return {
    id: r.id,
    status: r.status,
    needed: r.needed,
    epochs: r.epochs.map(({ seconds: _s, ...e }) => e),
    checkpoints: r.checkpoints.map(({ ms: _ms, ...c }) => c),
  };
}

let root: string;
let reference: HesseResults;
const smokeDir = () => join(root, 'smoke');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hesse-study-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the smoke study, end to end', () => {
  it('hesse study bn-residual --preset smoke: every run trained and analysed, in results.json, the table, the verdicts and the report', async () => {
    const r = await hesse(['study', 'bn-residual', '--preset', 'smoke', '--parallel', '2', '--out', smokeDir(), '--no-png'], { killAfterMs: 110_000 });
    expect(r.stderr).toMatch(/estimated cost: .* of compute for 16 runs/);
    expect(r.code, r.stderr).toBe(0);
    reference = JSON.parse(await readFile(join(smokeDir(), 'results.json'), 'utf8')) as HesseResults;
    const s = reference.results.study!;
    expect(s.total).toBe(16);
    expect(s.finished).toBe(16);
    expect(reference.interrupted).toBeUndefined();
    expect(s.analysisEpochs).toEqual([2, 4]);
    const tol = s.settings.eigenTol as number;
    expect(tol).toBe(1e-3);
    for (const run of s.runs) {
      expect(run.status, run.id).toBe('done');
      expect(run.epochs.map((e) => e.epoch)).toEqual([1, 2, 3, 4]);
      expect(run.checkpoints.map((c) => c.epoch)).toEqual([2, 4]);
      const [first, last] = run.checkpoints as [StudyRunResult['checkpoints'][number], StudyRunResult['checkpoints'][number]];
      // Lanczos starts cold at the first checkpoint, warm at the next, and the cold check agrees with it
      expect(first.warmStart).toBe(false);
      expect(last.warmStart).toBe(true);
      // both within tol x |theta| of the top eigenvalue (tol 1e-3), so within 2 tol of each other; and the warm start no dearer
      expect(Math.abs(last.cold!.topEigenvalues[0]! - last.topEigenvalues[0]!)).toBeLessThan(2 * tol * Math.abs(last.topEigenvalues[0]!));
      expect(last.eigenProducts, run.id).toBeLessThanOrEqual(last.cold!.products);
      // the checkpoint's training figures are the epoch's
      expect(last.trainLoss).toBe(run.epochs[3]!.trainLoss);
      expect(last.testAccuracy).toBe(run.epochs[3]!.testAcc);
      expect(last.hessianSamples).toBe(32);
      expect(last.density.nodes[0]).toHaveLength(10);
      expect(run.sessions).toHaveLength(1);
    }
    expect(s.table).toHaveLength(16);
    expect(s.table.every((row) => row.finished === 1 && row.topEigenvalue !== null)).toBe(true);
    expect(s.verdicts.map((v) => v.claim)).toEqual(['residual', 'batchnorm', 'stages', 'sharpness-accuracy']);
    expect(s.warmStart!.checkpoints).toBe(16);
    // what the warm start saved over the 16 warm-started checkpoints (the README's figure)
    expect(s.warmStart!.warmProducts).toBeLessThan(s.warmStart!.coldProducts);
    expect(s.warmStart!.largestEigenvalueGap).toBeLessThan(2 * tol);
    expect(r.stdout).toContain(`warm start: ${s.warmStart!.warmProducts} Lanczos products instead of ${s.warmStart!.coldProducts} from a random start over 16 checkpoints`);
    expect(r.stdout).toMatch(/16 of 16 runs finished/);
    expect(r.stdout).toMatch(/^\s+\[(agrees|disagrees|cannot tell)\] Removing residual connections sharpens/m);

    const html = await readFile(join(smokeDir(), 'index.html'), 'utf8');
    // the verdicts and the table come first, before the run's settings
    expect(html.indexOf('id="study-verdicts"')).toBeGreaterThan(0);
    expect(html.indexOf('id="study-verdicts"')).toBeLessThan(html.indexOf('id="study-table"'));
    expect(html.indexOf('id="study-table"')).toBeLessThan(html.indexOf('id="run"'));
    for (const run of s.runs) expect(html).toContain(run.id);
    for (const id of ['study-esd', 'study-trajectory', 'study-stagewise', 'study-sharpness']) expect(html).toContain(`data-hesse-plot="${id}"`);
    // hesse report rebuilds it from results.json, and Vega-Lite has nothing to complain about
    const rebuilt = await rebuildReport(smokeDir(), { png: false });
    expect(rebuilt.warnings).toEqual([]);
    expect(rebuilt.plots.map((p) => p.id)).toEqual(['study-esd', 'study-trajectory', 'study-stagewise', 'study-sharpness']);
  });

  it('--summary prints the verdicts and the table of the folder as it stands, running nothing', async () => {
    const r = await hesse(['study', 'bn-residual', '--summary', '--out', smokeDir()], { killAfterMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/16 of 16 runs finished/);
    for (const v of reference.results.study!.verdicts) expect(r.stdout).toContain(`[${v.outcome}] ${v.statement} ${v.decidedBy}`);
    expect(r.stdout).toMatch(/^14\s+no BN in stage 3\s+1\/1/m);
  });

  it("the recorded top eigenvalue and eigenvector are the Hessian's at the saved weights, on the first 32 training images shrunk to 8x8", async () => {
    const run = reference.results.study!.runs.find((r) => r.id === 'resnet14-bn-nores-seed0')!;
    const dir = join(smokeDir(), 'runs', run.id);
    const { model } = await loadTrainState(join(dir, 'checkpoint.safetensors'));
    const v = (await readSafetensors(join(dir, 'curvature.safetensors'))).tensors.get('warm.eigenvector')!.data as Float32Array;
    // the Hessian batch built here by hand: 4x4 block means of the synthetic set's 32x32 images
    const full = synthetic({ n: 256, seed: 0, split: 'train' });
    const { x, y } = full.get(Array.from({ length: 32 }, (_, i) => i));
    const px = new Float32Array(32 * 3 * 64);
    for (let i = 0; i < 32 * 3; i++)
      for (let r = 0; r < 8; r++)
        for (let c = 0; c < 8; c++) {
          let sum = 0;
          for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) sum += x.data[i * 1024 + (4 * r + a) * 32 + 4 * c + b]!;
          px[i * 64 + r * 8 + c] = sum / 16;
        }
    const small = new ImageDataset({ name: 'by hand', pixels: px, labels: y, channels: 3, height: 8, width: 8, classes: 10 });
    const batch = small.get(Array.from({ length: 32 }, (_, i) => i));
    normalizeInPlace(batch.x, CIFAR10_NORMALIZATION);
    const hv = await hessianOperator(model, batch, { bnMode: 'eval' }).matvec(v);
    const lambda = run.checkpoints.at(-1)!.topEigenvalues[0]!;
    let res = 0;
    for (let i = 0; i < v.length; i++) res += (hv[i]! - lambda * v[i]!) ** 2;
    expect(Math.sqrt(res)).toBeLessThan(3e-3 * lambda);
  });

  it.skipIf(noChromium)('the report draws every study plot in headless Chromium, with the verdicts and the table on the first screen', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(pathToFileURL(join(smokeDir(), 'index.html')).href, { waitUntil: 'load' });
      await page.waitForFunction(() => (window as unknown as { hesseReport?: { ready?: unknown } }).hesseReport?.ready !== undefined);
      await page.evaluate(() => (window as unknown as { hesseReport: { ready: Promise<unknown> } }).hesseReport.ready);
      const state = await page.$$eval('[data-hesse-plot]', (els) => els.map((el) => ({ id: el.getAttribute('data-hesse-plot'), rendered: el.getAttribute('data-rendered'), marks: el.querySelectorAll('svg g.role-mark > *').length })));
      expect(state.map((p) => p.id)).toEqual(['study-esd', 'study-trajectory', 'study-stagewise', 'study-sharpness']);
      for (const p of state) {
        expect(p.rendered, p.id!).toBe('true');
        expect(p.marks, p.id!).toBeGreaterThan(0);
      }
      const top = (sel: string) => page.$eval(sel, (el) => el.getBoundingClientRect().top);
      expect(await top('#study-verdicts .verdict')).toBeLessThan(900);
      expect(await top('#study-table table')).toBeLessThan(900);
      expect(await page.$$eval('#study-verdicts .verdict', (els) => els.length)).toBe(4);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe('resuming a study', () => {
  it('stopped during a run\'s training and run again: the numbers of an uninterrupted run, nothing finished redone', async () => {
    const dir = join(root, 'stopped');
    const stop = new AbortController();
    const victim = 'resnet8-nobn-nores-seed0';
    const first = await study({
      preset: 'smoke',
      out: dir,
      report: false,
      signal: stop.signal,
      onEvent: (e) => {
        if (e.type === 'step' && e.run === victim && e.epoch === 2 && e.step === 3) stop.abort();
      },
    });
    expect(first.completed).toBe(false);
    const partial = first.section!.runs;
    const at = partial.findIndex((r) => r.id === victim);
    expect(partial.slice(0, at).every((r) => r.status === 'done')).toBe(true);
    expect(partial.slice(at).every((r) => r.status === 'pending')).toBe(true);
    // the stopped run kept its first checkpoint's curvature and its last epoch's training state
    expect(partial[at]!.checkpoints.map((c) => c.epoch)).toEqual([2]);
    const state = await loadTrainState(join(dir, 'runs', victim, 'checkpoint.safetensors'));
    expect({ epoch: state.resume.epoch, step: state.resume.step }).toEqual({ epoch: 2, step: 0 });

    const second = await study({ preset: 'smoke', out: dir, report: false });
    expect(second.completed).toBe(true);
    expect(second.folder).toBe('continued');
    const runs = second.section!.runs;
    expect(runs.map(numbers)).toEqual(reference.results.study!.runs.map(numbers));
    // finished runs were not taken up again; the stopped one went on from where it stopped
    for (const [i, r] of runs.entries()) {
      if (i === at) expect(r.sessions.map((x) => x.from)).toEqual([{ epoch: 0, step: 0 }, { epoch: 2, step: 0 }]);
      else expect(r.sessions.map((x) => x.from), r.id).toEqual([{ epoch: 0, step: 0 }]);
    }
  });

  it('hesse study stopped by Ctrl-C exits 130, and the same command finishes it with the same numbers', async () => {
    const dir = join(root, 'ctrl-c');
    const args = ['study', 'bn-residual', '--preset', 'smoke', '--depths', '8', '--variants', 'bn-res,bn-nores', '--out', dir, '--no-png'];
    const stopped = await hesse(args, { signalWhen: /resnet8-bn-res-seed0: training/, killAfterMs: 60_000 });
    expect(stopped.code, stopped.stderr).toBe(130);
    const again = await hesse(args, { killAfterMs: 60_000 });
    expect(again.code, again.stderr).toBe(0);
    const runs = (JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as HesseResults).results.study!.runs;
    const ref = new Map(reference.results.study!.runs.map((r) => [r.id, r]));
    expect(runs.map((r) => r.id)).toEqual(['resnet8-bn-res-seed0', 'resnet8-bn-nores-seed0']);
    for (const r of runs) expect(numbers(r)).toEqual(numbers(ref.get(r.id)!));
    // one run was stopped and taken up again (from its last epoch's checkpoint, or from the start
    // when the stop came in its first epoch); the other ran once
    const sessions = runs.flatMap((r) => r.sessions);
    expect(sessions).toHaveLength(3);
    expect(runs.filter((r) => r.sessions.length === 2)).toHaveLength(1);
  });
});
