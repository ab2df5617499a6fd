import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { makeFolder, prepareOutputFolder, writeReport } from '../../src/report/index.js';
import { syntheticResults } from './syntheticResults.js';

const root = mkdtempSync(join(tmpdir(), 'hesse-folder-'));

describe('output folders', () => {
  it('makes missing parents, and fails at once with the folder named where none can be made', async () => {
    await makeFolder(join(root, 'a/b/c'));
    expect(existsSync(join(root, 'a/b/c'))).toBe(true);
    writeFileSync(join(root, 'file'), 'x');
    await expect(makeFolder(join(root, 'file/sub'))).rejects.toThrow(/output folder .*file\/sub cannot be created: .*file is a file/);
    // Node's recursive mkdir loops for ever here; one level at a time fails at once
    await expect(makeFolder('/proc/hesse-test/x')).rejects.toThrow(OptionError);
    await expect(writeReport('/proc/hesse-test', syntheticResults(), { png: false })).rejects.toThrow(/\/proc\/hesse-test cannot be created/);
  });

  it('accepts a new, empty or earlier hesse folder, and refuses one with files hesse did not write unless forced', async () => {
    await prepareOutputFolder(join(root, 'new'));
    mkdirSync(join(root, 'empty'));
    await prepareOutputFolder(join(root, 'empty'));
    await writeReport(join(root, 'earlier'), syntheticResults(), { png: false });
    await prepareOutputFolder(join(root, 'earlier'));
    mkdirSync(join(root, 'theirs'));
    writeFileSync(join(root, 'theirs', 'results.json'), '{"not": "hesse"}');
    await expect(prepareOutputFolder(join(root, 'theirs'))).rejects.toThrow(/theirs already holds files hesse did not write \(results\.json\)/);
    await prepareOutputFolder(join(root, 'theirs'), { force: true });
    await prepareOutputFolder(join(root, 'theirs'), { ours: true });
    expect(readdirSync(join(root, 'theirs'))).toEqual(['results.json']);
  });
});
