import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileFormatError } from '../../src/errors.js';
import {
  RESULTS_FORMAT,
  RESULTS_SCHEMA_VERSION,
  createResults,
  hesseVersion,
  parseResults,
  readResults,
  resultsToJson,
  validateResults,
  writeResults,
} from '../../src/report/index.js';
import { landscape2d, syntheticResults } from './syntheticResults.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hesse-results-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('createResults', () => {
  it('stamps the format, the package version, the runtime and an ISO time', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = createResults({
      command: 'analyze',
      kernels: 'reference',
      inputs: { model: { description: 'm' }, data: { description: 'd' }, samples: {} },
      options: { seed: 1 },
    });
    expect(hesseVersion()).toBe(pkg.version);
    expect(r.hesse).toMatchObject({ version: pkg.version, kernels: 'reference', node: process.version });
    expect(r.format).toBe(RESULTS_FORMAT);
    expect(r.schemaVersion).toBe(RESULTS_SCHEMA_VERSION);
    expect(new Date(r.createdAt).toISOString()).toBe(r.createdAt);
    expect(r).toMatchObject({ timings: {}, products: {}, results: {} });
  });
});

describe('writeResults / readResults', () => {
  it('round-trips every section exactly', async () => {
    const r = syntheticResults();
    const path = await writeResults(dir, r);
    expect(path).toBe(join(dir, 'results.json'));
    expect(await readResults(path)).toEqual(r);
    expect(await readResults(dir)).toEqual(r);
  });

  it('round-trips a 2-D landscape, with NaN (a diverged point) read back as NaN', async () => {
    const r = syntheticResults();
    const l = landscape2d(5);
    (l.loss as number[][])[0]![0] = Number.NaN;
    r.results.landscape = l;
    const sub = join(dir, 'nan');
    await writeResults(sub, r);
    const back = await readResults(sub);
    expect((back.results.landscape!.loss as number[][])[0]![0]).toBeNaN();
    expect(back.results.landscape!.loss).toEqual(l.loss);
  });

  it('keeps number arrays on one line and leaves no temporary files behind', async () => {
    await writeResults(dir, syntheticResults());
    await writeResults(dir, syntheticResults()); // replacing an existing file
    const text = await readFile(join(dir, 'results.json'), 'utf8');
    expect(text.split('\n').length).toBeLessThan(200); // the 3000-point density grid alone would be 3000 lines
    expect(text.startsWith('{\n  "format": "hesse-results"')).toBe(true);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses to write a malformed object, naming the field', async () => {
    const r = syntheticResults();
    r.results.density!.density = r.results.density!.density.slice(1);
    await expect(writeResults(join(dir, 'bad'), r)).rejects.toThrow(/results\.density\.density has 2999 entries but results\.density\.grid has 3000/);
  });
});

describe('resultsToJson', () => {
  it('writes typed arrays as arrays and drops undefined fields', () => {
    expect(JSON.parse(resultsToJson({ a: new Float64Array([1.5, 2]), b: undefined, c: [Infinity, 3] }))).toEqual({ a: [1.5, 2], c: [null, 3] });
  });
});

describe('reading a file that is not a hesse results file', () => {
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"hesse": ', /is not valid JSON/],
    ['a JSON array', '[1, 2, 3]', /is not a hesse results file: the top level must be an object/],
    ['another program’s JSON', '{"name": "x", "version": "1.0.0"}', /is not a hesse results file: hesse must be an object/],
    ['a foreign format marker', '{"format": "other", "hesse": {"version": "1"}, "command": "x", "results": {}}', /format is "other", not "hesse-results"/],
    ['a newer schema', `{"schemaVersion": ${RESULTS_SCHEMA_VERSION + 1}, "hesse": {"version": "9"}, "command": "x", "results": {}}`, /schemaVersion is 2; this hesse reads versions 1 to 1 \(upgrade hesse\)/],
    ['eigenvalues that are not numbers', '{"hesse": {"version": "1"}, "command": "x", "results": {"eigen": {"method": "power", "values": ["big"]}}}', /results\.eigen\.values\[0\] must be a number/],
    ['a 2-D landscape with a short row', '{"hesse": {"version": "1"}, "command": "x", "results": {"landscape": {"dims": 2, "directions": "random", "alphas": [0, 1], "betas": [0, 1], "loss": [[1, 2], [3]]}}}', /results\.landscape\.loss\[1\] has 1 entries but betas has 2/],
  ];
  for (const [what, text, message] of cases) {
    it(`${what}: FileFormatError naming the file`, async () => {
      const path = join(dir, `case-${what.replace(/\W+/g, '-')}.json`);
      await writeFile(path, text);
      const err = await readResults(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FileFormatError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toContain(path);
    });
  }

  it('a missing directory or file: FileFormatError saying what to give', async () => {
    await expect(readResults(join(dir, 'nowhere'))).rejects.toThrow(FileFormatError);
    const empty = join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    await expect(readResults(empty)).rejects.toThrow(/results\.json is missing; give a results directory/);
  });

  it('keeps a well-formed kernel choice and leaves a malformed one out, saying so', () => {
    const choice = { isa: 'avx512', gemm: 'own', convRows: true, source: 'stored', cpu: 'Some CPU', measuredMs: { 'avx512/own': 3.5 } };
    const kept = parseResults(JSON.stringify({ hesse: { version: '0.1.0', kernels: 'native', kernelChoice: choice }, command: 'analyze', results: {} }), 'x.json');
    expect(kept.hesse.kernelChoice).toEqual(choice);
    for (const bad of ['avx512', { ...choice, convRows: 'yes' }, { ...choice, measuredMs: { 'avx512/own': 'fast' } }, { isa: 'avx512' }]) {
      const skipped: string[] = [];
      const r = validateResults({ hesse: { version: '0.1.0', kernels: 'native', kernelChoice: bad }, command: 'analyze', results: {} }, skipped);
      expect(r.hesse).not.toHaveProperty('kernelChoice');
      expect(r.hesse.kernels).toBe('native');
      expect(skipped).toEqual([expect.stringMatching(/^hesse\.kernelChoice: .*left out of the report$/)]);
    }
  });

  it('accepts a minimal file and fills the bookkeeping with empties', () => {
    const r = parseResults('{"hesse": {"version": "0.1.0"}, "command": "analyze", "results": {}}', 'x.json');
    expect(r).toMatchObject({ timings: {}, products: {}, inputs: { samples: {} }, hesse: { kernels: 'unknown' } });
  });
});
