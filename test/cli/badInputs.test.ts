import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/io/checkpoint.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { resnet } from '../../src/nn/index.js';
import { resultsToJson } from '../../src/report/index.js';
import { syntheticResults } from '../report/syntheticResults.js';
import { hesse } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-cli-inputs-'));
const model = join(dir, 'r8.safetensors');
const nanModel = join(dir, 'nan.safetensors');

/** The last line of stderr is the one error line, with no stack. */
function errorLine(stderr: string): string {
  expect(stderr).not.toMatch(/\n\s+at /);
  return stderr.trim().split('\n').at(-1)!;
}

beforeAll(async () => {
  await saveModel(model, resnet({ depth: 8, width: 2, seed: 1 }));
  const broken = resnet({ depth: 8, width: 2, seed: 1 });
  broken.theta[0] = Number.NaN;
  await saveModel(nanModel, broken);
});

describe('the commands on inputs that cannot work', () => {
  it('landscape along random directions of a model whose loss is NaN fails like analyze, and writes no report', async () => {
    const out = join(dir, 'nan-landscape');
    const r = await hesse(['landscape', '--model', nanModel, '--data', 'synthetic:16', '--directions', 'random', '--steps', '3', '--batch', '8', '--out', out]);
    expect(r.code).not.toBe(0);
    expect(errorLine(r.stderr)).toMatch(/loss at the trained weights is NaN/);
    expect(r.stdout).not.toMatch(/Infinity/);
    expect(existsSync(join(out, 'results.json'))).toBe(false);
  });

  it('train that diverges says where, at which rate, and names remedies by flags the command has', async () => {
    const out = join(dir, 'diverged');
    const r = await hesse(['train', '--model', 'mlp:3072-10', '--data', 'synthetic:32', '--epochs', '1', '--lr', '1e30', '--batch-size', '16', '--no-test', '--out', out]);
    expect(r.code).toBe(1);
    const line = errorLine(r.stderr);
    expect(line).toMatch(/^hesse: training diverged at epoch 1, step \d of 2 \(learning rate 1e\+30\)/);
    // it names its remedies as flags (the library's message names none), and they are flags this command has
    const flags = line.match(/--[a-z][a-z-]*/g) ?? [];
    expect(flags.length, line).toBeGreaterThan(0);
    const help = (await hesse(['train', '--help'])).stdout;
    for (const f of flags) expect(help, f).toMatch(new RegExp(`(^|[\\s,])${f}(?![\\w-])`, 'm'));
  });

  it('--data synthetic:1e12 is refused in one line naming the count and the limit, before any work', async () => {
    const out = join(dir, 'too-many');
    const r = await hesse(['analyze', '--model', model, '--data', 'synthetic:1e12', '--eigen', '1', '--out', out]);
    expect(r.code).toBe(1);
    const line = errorLine(r.stderr);
    expect(line).toMatch(/^hesse: .*1,000,000,000,000 samples .*1,000,000\b/);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('hesse:'))).toHaveLength(1);
    expect(r.stderr).not.toMatch(/analysing/);
    expect(existsSync(join(out, 'results.json'))).toBe(false);
  });

  it('landscape far out (range 1e30): where the loss overflows, results.json holds null for both loss and accuracy', async () => {
    for (const dims of ['1', '2']) {
      const out = join(dir, `far-${dims}d`);
      const r = await hesse(['landscape', '--model', model, '--data', 'synthetic:16', '--batch', '8', '--directions', 'random', '--dims', dims, '--steps', '5', '--range', '1e30', '--out', out, '--quiet', '--no-png']);
      expect(r.code, r.stderr).toBe(0);
      // the file as written, not as hesse reads it back
      const land = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).results.landscape;
      const loss = (land.loss as unknown[]).flat();
      const accuracy = (land.accuracy as unknown[]).flat();
      expect(loss).toHaveLength(dims === '1' ? 5 : 25);
      expect(accuracy).toHaveLength(loss.length);
      const missing = loss.map((l, i) => (l === null ? i : -1)).filter((i) => i >= 0);
      expect(missing.length, `${dims}-D`).toBeGreaterThan(0);
      // the origin is finite, with its accuracy; every other point has both or neither
      const origin = (loss.length - 1) / 2;
      expect(loss[origin]).toBe(land.originLoss);
      loss.forEach((l, i) => {
        if (l === null) expect(accuracy[i], `${dims}-D point ${i}`).toBeNull();
        else {
          expect(Number.isFinite(l), `${dims}-D point ${i}`).toBe(true);
          expect(accuracy[i], `${dims}-D point ${i}`).toBeGreaterThanOrEqual(0);
          expect(accuracy[i], `${dims}-D point ${i}`).toBeLessThanOrEqual(1);
        }
      });
    }
  });

  it('analyze on data with more classes than the model has outputs says both counts before any work', async () => {
    const twenty = join(dir, 'twenty.safetensors');
    await writeSafetensors(twenty, {
      x: { dtype: 'F32', shape: [2, 3, 8, 8], data: new Float32Array(2 * 3 * 64) },
      y: { dtype: 'I64', shape: [2], data: BigInt64Array.of(0n, 19n) },
    });
    const r = await hesse(['analyze', '--model', model, '--data', twenty, '--eigen', '1', '--out', join(dir, 'twenty-out')]);
    expect(r.code).not.toBe(0);
    expect(errorLine(r.stderr)).toMatch(/twenty has 20 classes but the model has 10 outputs/);
    expect(r.stderr).not.toMatch(/analysing/);
  });

  it('report on a results.json whose argv is not a list still writes the report and says what it left out', async () => {
    const out = join(dir, 'odd-report');
    await mkdir(out, { recursive: true });
    const results = JSON.parse(resultsToJson(syntheticResults())) as Record<string, unknown>;
    results.argv = 'analyze --model m.safetensors';
    writeFileSync(join(out, 'results.json'), JSON.stringify(results));
    const r = await hesse(['report', out, '--no-png']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/left out: argv: must be a list of strings/);
    expect(existsSync(join(out, 'index.html'))).toBe(true);
  });
});
