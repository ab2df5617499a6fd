import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { writeFileAtomic } from '../io/safetensors.js';
import { browserBundles } from './browserAssets.js';
import { makeFolder } from './outputFolder.js';
import { renderPlot, type RenderOptions } from './renderPlot.js';
import { reportHtml, type PagePlot } from './reportHtml.js';
import { PLOT_IDS, reportPlots, type PlotId } from './reportPlots.js';
import type { HesseResults } from './results.js';
import { RESULTS_FILE, parseResults, stampResults } from './resultsFile.js';
import { resultsToJson } from './resultsJson.js';

export interface ReportOptions extends RenderOptions {
  /** Write results.json too. Default true (rebuildReport never rewrites it). */
  writeResults?: boolean;
}

export interface ReportFiles {
  dir: string;
  /** Absolute or as given: dir joined with the file name. */
  index: string;
  results: string;
  plots: { id: PlotId; title: string; spec: string; svg: string; png?: string }[];
  /** Vega-Lite's complaints while compiling the plots; empty when every plot is as intended. */
  warnings: string[];
  /** What the report leaves out or shows otherwise than stored (the page lists it too); empty when it shows everything. */
  skipped: string[];
}

export const REPORT_INDEX = 'index.html';
export const PLOTS_DIR = 'plots';

async function removeIfPresent(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** The plots an earlier report in `dir` wrote, as its results.json says; none when there is none. */
async function earlierPlots(dir: string): Promise<Set<PlotId>> {
  try {
    return new Set(reportPlots(parseResults(await readFile(join(dir, RESULTS_FILE), 'utf8'), RESULTS_FILE)).map((p) => p.id));
  } catch {
    return new Set();
  }
}

/**
 * Plots, then the page. Plot files of `earlier` (what an earlier report here wrote) that this one
 * has no plot for are removed; any other file is left alone.
 */
async function renderReport(dir: string, results: HesseResults, options: ReportOptions, skippedInResults: readonly string[], earlier: ReadonlySet<PlotId>): Promise<ReportFiles> {
  const png = options.png ?? true;
  const plots = reportPlots(results);
  const skipped = [...skippedInResults, ...plots.flatMap((p) => (p.notes ?? []).map((n) => `${p.title}: ${n}`))];
  const pagePlots: PagePlot[] = [];
  const files: ReportFiles['plots'] = [];
  const warnings: string[] = [];
  for (const plot of plots) {
    const rendered = await renderPlot(plot.spec, { png, scale: options.scale });
    warnings.push(...rendered.warnings.map((w) => `${plot.id}: ${w}`));
    const base = join(dir, PLOTS_DIR, plot.id);
    await writeFileAtomic(`${base}.vl.json`, `${JSON.stringify(plot.spec, null, 2)}\n`);
    await writeFileAtomic(`${base}.svg`, rendered.svg);
    const entry: ReportFiles['plots'][number] = { id: plot.id, title: plot.title, spec: `${base}.vl.json`, svg: `${base}.svg` };
    const page: PagePlot = { ...plot, svgFile: `${PLOTS_DIR}/${plot.id}.svg` };
    if (rendered.png) {
      await writeFileAtomic(`${base}.png`, rendered.png);
      entry.png = `${base}.png`;
      page.pngFile = `${PLOTS_DIR}/${plot.id}.png`;
    } else {
      await removeIfPresent(`${base}.png`);
    }
    files.push(entry);
    pagePlots.push(page);
  }
  const present = new Set<PlotId>(plots.map((p) => p.id));
  for (const id of PLOT_IDS) {
    if (present.has(id) || !earlier.has(id)) continue;
    for (const ext of ['.vl.json', '.svg', '.png']) await removeIfPresent(join(dir, PLOTS_DIR, id + ext));
  }
  const index = join(dir, REPORT_INDEX);
  await writeFileAtomic(index, reportHtml(results, pagePlots, await browserBundles(), skippedInResults));
  return { dir, index, results: join(dir, RESULTS_FILE), plots: files, warnings, skipped };
}

/**
 * Writes a complete report into `dir`: results.json, every plot the results support as
 * plots/ID.svg, plots/ID.png and plots/ID.vl.json (the Vega-Lite spec), and index.html. The results
 * go through the same JSON round trip a later `rebuildReport` reads, so both give the same files.
 */
export async function writeReport(dir: string, results: HesseResults, options: ReportOptions = {}): Promise<ReportFiles> {
  const text = resultsToJson(stampResults(results));
  let stored: HesseResults;
  const skipped: string[] = [];
  try {
    stored = parseResults(text, 'the results object', skipped);
  } catch (err) {
    if (err instanceof FileFormatError) throw new TypeError(`writeReport: ${err.message}`);
    throw err;
  }
  await makeFolder(dir);
  const earlier = await earlierPlots(dir);
  if (options.writeResults ?? true) await writeFileAtomic(join(dir, RESULTS_FILE), text);
  return renderReport(dir, stored, options, skipped, earlier);
}

/** Rewrites the plots and index.html of a results directory from its results.json (`hesse report DIR`). */
export async function rebuildReport(dir: string, options: Omit<ReportOptions, 'writeResults'> = {}): Promise<ReportFiles> {
  const path = join(dir, RESULTS_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new FileFormatError(`${path} is missing; give the directory a hesse command wrote its results into (its --out DIR)`);
  }
  const skipped: string[] = [];
  const results = parseResults(text, path, skipped);
  return renderReport(dir, results, options, skipped, new Set(reportPlots(results).map((p) => p.id)));
}
