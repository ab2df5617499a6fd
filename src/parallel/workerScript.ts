import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/**
 * Where a worker entry of this folder lives and how Node must start it. Compiled, it is
 * dist/parallel/NAME.js and runs as is. From source (tests, tsx) it is src/parallel/NAME.ts, and
 * Node needs tsx's loader to run TypeScript: worker threads and child processes do not inherit the
 * way vitest or tsx loaded this module, so the loader is named explicitly (as an absolute URL, so
 * it resolves from any working directory). `besideModule` (an import.meta.url) looks for the entry
 * in another folder than this one.
 */
export function workerEntry(name: string, besideModule: string = import.meta.url): { url: URL; execArgv: string[] } {
  const fromSource = besideModule.endsWith('.ts');
  const url = new URL(`./${name}${fromSource ? '.ts' : '.js'}`, besideModule);
  if (!fromSource) return { url, execArgv: [] };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { url, execArgv: ['--import', tsx] };
}
