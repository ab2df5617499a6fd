import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FileFormatError } from '../errors.js';

const require = createRequire(import.meta.url);

/** Where a package's browser bundle lies: beside the entry point Node resolves for it. */
function bundlePath(pkg: string, file: string): string {
  return join(dirname(require.resolve(pkg)), file);
}

export interface BrowserBundles {
  vega: string;
  vegaLite: string;
}

let cached: Promise<BrowserBundles> | undefined;

/** The minified browser builds of Vega and Vega-Lite, to inline into the report. */
export function browserBundles(): Promise<BrowserBundles> {
  cached ??= (async () => {
    const paths = { vega: bundlePath('vega', 'vega.min.js'), vegaLite: bundlePath('vega-lite', 'vega-lite.min.js') };
    try {
      return { vega: await readFile(paths.vega, 'utf8'), vegaLite: await readFile(paths.vegaLite, 'utf8') };
    } catch (err) {
      cached = undefined;
      throw new FileFormatError(
        `cannot read the Vega browser bundles (${paths.vega}, ${paths.vegaLite}): ${(err as Error).message}; reinstall hesse's dependencies (npm install)`,
      );
    }
  })();
  return cached;
}
