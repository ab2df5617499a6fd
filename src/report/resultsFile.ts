import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { writeFileAtomic } from '../io/safetensors.js';
import { RESULTS_FORMAT, RESULTS_SCHEMA_VERSION, type HesseResults } from './results.js';
import { resultsToJson } from './resultsJson.js';
import { ResultsShapeProblem, validateResults } from './validateResults.js';

export const RESULTS_FILE = 'results.json';

/** The results object as it will be stored: format marker and schema version stamped on. */
export function stampResults(results: HesseResults): HesseResults {
  const { format: _format, schemaVersion: _schemaVersion, ...rest } = results;
  return { format: RESULTS_FORMAT, schemaVersion: RESULTS_SCHEMA_VERSION, ...rest };
}

/**
 * Writes `dir/results.json` atomically and returns its path. The object is checked first, so a
 * malformed section fails here, where the bug is, rather than later when the report reads it.
 */
export async function writeResults(dir: string, results: HesseResults): Promise<string> {
  const text = resultsToJson(stampResults(results));
  try {
    validateResults(JSON.parse(text));
  } catch (err) {
    if (err instanceof ResultsShapeProblem) {
      throw new TypeError(`writeResults: results object is malformed: ${err.message}`);
    }
    throw err;
  }
  const path = join(dir, RESULTS_FILE);
  await writeFileAtomic(path, text);
  return path;
}

/** Parses and checks results JSON text; `source` names the file in the error; what is left out is listed in `skipped`. */
export function parseResults(text: string, source: string, skipped: string[] = []): HesseResults {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FileFormatError(
      `${source} is not valid JSON (${(err as Error).message}); expected the results.json a hesse command writes`,
    );
  }
  try {
    return validateResults(value, skipped);
  } catch (err) {
    if (err instanceof ResultsShapeProblem) {
      throw new FileFormatError(
        `${source} is not a hesse results file: ${err.message}; expected the results.json a hesse command writes (rerun the command to recreate it)`,
      );
    }
    throw err;
  }
}

/** Reads a results file, given its path or the directory that holds results.json. */
export async function readResults(pathOrDir: string): Promise<HesseResults> {
  let path = pathOrDir;
  try {
    if ((await stat(pathOrDir)).isDirectory()) path = join(pathOrDir, RESULTS_FILE);
  } catch {
    throw new FileFormatError(`${pathOrDir} does not exist; give a results directory written by a hesse command (its --out DIR)`);
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new FileFormatError(`${path} is missing; give a results directory written by a hesse command (its --out DIR)`);
  }
  return parseResults(text, path);
}
