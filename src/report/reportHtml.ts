import type { BrowserBundles } from './browserAssets.js';
import { EMBED_SCRIPT } from './embedScript.js';
import { finiteExtent } from './extent.js';
import { escapeHtml, formatMs, formatNumber, gridTable, keyValueTable, scriptJson } from './htmlFormat.js';
import type { PlotId, ReportPlot } from './reportPlots.js';
import type { HesseResults, LandscapeResult, ResultsKernelChoice } from './results.js';
import { STUDY_STYLE, studySections } from './studyHtml.js';

/** A plot as the page refers to it: its spec and the static files written beside the page. */
export interface PagePlot extends ReportPlot {
  /** Paths relative to index.html. */
  svgFile: string;
  pngFile?: string;
}

const STYLE = `
body{font-family:"DejaVu Sans","Liberation Sans",Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}header p{margin:0;opacity:.85}
nav{padding:8px 28px;background:#e9eef3;font-size:14px}nav a{margin-right:14px;color:#1f3b57}
main{padding:8px 28px 40px;max-width:1200px}section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 18px 14px;margin:16px 0}
h2{font-size:18px;margin:10px 0}table{border-collapse:collapse;margin:8px 24px 8px 0;font-size:13px;display:inline-table;vertical-align:top}
caption{text-align:left;font-weight:bold;padding:4px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
table.grid td{font-variant-numeric:tabular-nums}table.kv th{background:#f3f5f7;font-weight:normal}
figure{margin:10px 0}figcaption{font-size:12px;color:#555}.plot{overflow-x:auto;min-height:40px}
.big{font-size:20px;margin:6px 0}.note{color:#666;font-size:13px}
#hesse-tooltip{position:fixed;z-index:10;pointer-events:none;background:rgba(255,255,255,.97);border:1px solid #999;border-radius:4px;padding:4px 8px;font-size:12px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
#hesse-tooltip table{margin:0}#hesse-tooltip td{border:none;padding:1px 4px}#hesse-tooltip td.key{color:#666}
`;

function figure(plot: PagePlot): string {
  const fallback = plot.pngFile ?? plot.svgFile;
  const alt = escapeHtml(plot.title);
  const links = [
    `<a href="${escapeHtml(plot.svgFile)}">SVG</a>`,
    ...(plot.pngFile ? [`<a href="${escapeHtml(plot.pngFile)}">PNG</a>`] : []),
    ...(plot.notes ?? []).map((n) => escapeHtml(n)),
  ];
  return `<figure id="figure-${plot.id}">
<div class="plot" data-hesse-plot="${plot.id}" role="img" aria-label="${alt}"></div>
<noscript><img src="${escapeHtml(fallback)}" alt="${alt}"></noscript>
<script type="application/json" id="spec-${plot.id}">${scriptJson(plot.spec)}</script>
<figcaption>${alt} · ${links.join(' · ')}</figcaption>
</figure>`;
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}"><h2>${escapeHtml(title)}</h2>\n${body}\n</section>`;
}

const CHOICE_SOURCE: Record<string, string> = {
  measured: 'measured on this run',
  stored: 'stored from an earlier measurement',
  default: 'the static rule, not measured',
  environment: 'set by HESSE_ISA / HESSE_GEMM',
};

/** '<isa>, <gemm> GEMM, <convolution layout>: <how chosen> on <cpu> (candidate timings)'. */
function kernelChoiceText(c: ResultsKernelChoice | undefined): string | undefined {
  if (!c) return undefined;
  const how = CHOICE_SOURCE[c.source] ?? c.source;
  const at = c.measuredAt ? ` at ${c.measuredAt}` : '';
  const timings = c.measuredMs ? ` (${Object.entries(c.measuredMs).map(([k, ms]) => `${k} ${formatNumber(Number(ms.toPrecision(3)))} ms`).join(', ')})` : '';
  return `${c.isa}, ${c.gemm} GEMM, ${c.convRows ? 'row-strip' : 'plane'} convolutions: ${how}${at} on ${c.cpu}${timings}`;
}

function landscapeSummary(l: LandscapeResult): string {
  let best = { loss: Infinity, alpha: Number.NaN, beta: Number.NaN };
  if (l.dims === 1) {
    (l.loss as number[]).forEach((v, i) => {
      if (v < best.loss) best = { loss: v, alpha: l.alphas[i]!, beta: Number.NaN };
    });
  } else {
    (l.loss as number[][]).forEach((row, i) =>
      row.forEach((v, j) => {
        if (v < best.loss) best = { loss: v, alpha: l.alphas[i]!, beta: l.betas![j]! };
      }),
    );
  }
  const span = (xs: readonly number[]) => {
    const e = finiteExtent(xs);
    return `${e ? `${formatNumber(e.min)} … ${formatNumber(e.max)}` : 'no finite values'} (${xs.length.toLocaleString('en-US')} points)`;
  };
  return keyValueTable([
    ['dimensions', l.dims],
    ['directions', l.directions === 'eigen' ? 'top Hessian eigenvector(s)' : 'random, filter-normalised'],
    ['α range', span(l.alphas)],
    ['β range', l.betas ? span(l.betas) : undefined],
    ['loss at the trained weights', l.originLoss],
    ['lowest loss', Number.isFinite(best.loss) ? best.loss : undefined],
    ['… at', Number.isFinite(best.loss) ? (l.dims === 1 ? `α = ${formatNumber(best.alpha)}` : `α = ${formatNumber(best.alpha)}, β = ${formatNumber(best.beta)}`) : undefined],
    ['batch norm', l.bnMode],
    ['samples', l.samples],
    ['time', l.ms === undefined ? undefined : formatMs(l.ms)],
  ]);
}

/**
 * The whole report as one HTML document: summary tables for every section present, each plot as
 * an interactive Vega view drawn from its embedded spec, and the static image under <noscript>.
 * Vega, Vega-Lite and the drawing script are inlined, so the file needs no server or network.
 */
export function reportHtml(results: HesseResults, plots: readonly PagePlot[], bundles: BrowserBundles, skipped: readonly string[] = []): string {
  const r = results.results;
  const byId = new Map<PlotId, PagePlot>(plots.map((p) => [p.id, p]));
  const fig = (id: PlotId): string => {
    const p = byId.get(id);
    return p ? figure(p) : '';
  };
  const sections: { id: string; title: string; body: string }[] = [];

  // a study's verdicts and table are its first screen
  if (r.study) sections.push(...studySections(r.study, fig));

  const model = results.inputs.model;
  const data = results.inputs.data;
  const ev = r.evaluation;
  const lossName = `${results.options.loss ?? 'cross-entropy'}${results.options.ignoreIndex !== undefined ? `, ignoring targets ${results.options.ignoreIndex}` : ''}`;
  const onWhat = results.options.fullDataset ? 'the whole dataset' : 'the Hessian batch';
  sections.push({
    id: 'run',
    title: 'Run',
    body: [
      keyValueTable(
        [
          ['command', results.command],
          ['command line', results.argv?.join(' ')],
          ['created', results.createdAt],
          ['hesse version', results.hesse.version],
          ['kernels', results.hesse.kernels],
          ['kernel choice', kernelChoiceText(results.hesse.kernelChoice)],
          ['Node.js', results.hesse.node],
          ['platform', results.hesse.platform],
          ['interrupted', results.interrupted ? 'yes: the sections hold what finished before the stop' : undefined],
          ['failed', results.failed ? `${results.failed.stage}: ${results.failed.message} (the sections hold the steps before it)` : undefined],
        ],
        'Run',
      ),
      keyValueTable(
        [
          ['model', model.description],
          ['model file', model.file],
          ['architecture', model.architecture === undefined ? undefined : `${model.architecture}${model.inferred ? ' (inferred from the checkpoint)' : ''}`],
          ['parameters', model.parameters],
          ['loss at the analysed weights', ev ? `${formatNumber(ev.loss)} (${lossName}; ${onWhat}, ${formatNumber(ev.samples)} samples)` : undefined],
          ['accuracy at the analysed weights', ev?.accuracy !== undefined ? `${formatNumber(100 * ev.accuracy)}%` : undefined],
          ['data', data.description],
          ['data source', data.source],
          ['classes', data.classes],
          ...Object.entries(results.inputs.samples).map(([k, v]) => [`samples: ${k}`, v] as const),
        ],
        'Inputs',
      ),
      keyValueTable(
        Object.entries(results.options).map(([k, v]) => [k, v] as const),
        'Options',
      ),
    ].join('\n'),
  });

  if (r.eigen) {
    const e = r.eigen;
    sections.push({
      id: 'eigenvalues',
      title: 'Top eigenvalues',
      body: [
        gridTable(
          e.residuals ? ['rank', 'eigenvalue', 'residual ‖Hv − λv‖'] : ['rank', 'eigenvalue'],
          e.values.map((v, i) => (e.residuals ? [i + 1, v, e.residuals[i]] : [i + 1, v])),
          'Eigenvalues, largest first',
        ),
        keyValueTable(
          [
            ['method', e.method],
            ['converged', e.converged === undefined ? undefined : e.converged ? 'yes' : 'no'],
            ['iterations', e.iterations],
            ['products', e.products],
            ['time', formatMs(e.ms)],
          ],
          'How',
        ),
        fig('eigenvalues'),
      ].join('\n'),
    });
  }

  if (r.trace) {
    const t = r.trace;
    sections.push({
      id: 'trace',
      title: 'Trace',
      body: [
        `<p class="big">tr(H) ≈ ${escapeHtml(formatNumber(t.estimate))} ± ${escapeHtml(formatNumber(t.standardError))} <span class="note">(estimate ± one standard error)</span></p>`,
        keyValueTable([
          ['method', t.method],
          ['error bar', t.errorEstimate],
          ['relative standard error', t.relativeStandardError],
          ['jackknife standard error', t.jackknifeStandardError],
          ['stopped by', t.stoppedBy],
          ['probes', t.probes],
          ['products', t.products],
          ['time', formatMs(t.ms)],
        ]),
      ].join('\n'),
    });
  }

  if (r.density) {
    const d = r.density;
    sections.push({
      id: 'density',
      title: 'Eigenvalue spectral density',
      body: [
        fig('esd'),
        keyValueTable(
          [
            ['probes', d.probes],
            ['Lanczos steps', d.steps],
            ['restarts after a breakdown', d.restarts?.some((x) => x > 0) ? d.restarts.join(', ') : undefined],
            ['reorthogonalization', d.reorthogonalization],
            ['grid points', d.grid.length],
            ['eigenvalue range', d.grid.length > 0 ? `${formatNumber(d.grid[0])} … ${formatNumber(d.grid[d.grid.length - 1])}` : undefined],
            ['Gaussian variance σ²', d.sigmaSquared],
            ['products', d.products],
            ['time', d.ms === undefined ? undefined : formatMs(d.ms)],
          ],
          'Stochastic Lanczos quadrature',
        ),
      ].join('\n'),
    });
  }

  if (r.diagonal) {
    const g = r.diagonal;
    sections.push({
      id: 'diagonal',
      title: 'Hessian diagonal',
      body: [
        gridTable(
          ['block', 'parameters', 'sum of diagonal', 'mean of diagonal'],
          g.perBlock.map((b) => [b.name, b.parameters, b.sum, b.mean]),
          'Per parameter block',
        ),
        keyValueTable([
          ['method', g.method],
          ['probes', g.probes],
          ['products', g.products],
          ['time', g.ms === undefined ? undefined : formatMs(g.ms)],
        ]),
      ].join('\n'),
    });
  }

  if (r.perLayer) {
    const layers = r.perLayer;
    const hasTrace = layers.some((l) => l.trace !== undefined);
    const hasSe = layers.some((l) => l.traceStdErr !== undefined);
    const hasTop = layers.some((l) => l.topEigenvalue !== undefined);
    const headers = ['layer', 'parameters', ...(hasTrace ? ['trace'] : []), ...(hasSe ? ['± SE'] : []), ...(hasTop ? ['top eigenvalue'] : [])];
    const rows = layers.map((l) => [
      l.name,
      l.parameters,
      ...(hasTrace ? [l.trace] : []),
      ...(hasSe ? [l.traceStdErr] : []),
      ...(hasTop ? [l.topEigenvalue] : []),
    ]);
    sections.push({
      id: 'per-layer',
      title: 'Per layer',
      body: [fig('per-layer-trace'), fig('per-layer-top-eigenvalue'), gridTable(headers, rows, 'Each layer’s Hessian block, in model order')].join('\n'),
    });
  }

  if (r.landscape) {
    sections.push({
      id: 'landscape',
      title: 'Loss landscape',
      body: [fig(r.landscape.dims === 1 ? 'landscape-1d' : 'landscape-2d'), landscapeSummary(r.landscape)].join('\n'),
    });
  }

  if (r.training) {
    const epochs = r.training.epochs;
    const hasTest = epochs.some((e) => e.testLoss !== undefined || e.testAcc !== undefined);
    sections.push({
      id: 'training',
      title: 'Training',
      body: [
        fig('training'),
        gridTable(
          ['epoch', 'train loss', 'train accuracy', ...(hasTest ? ['test loss', 'test accuracy'] : []), 'learning rate', 'time'],
          epochs.map((e) => [e.epoch, e.trainLoss, e.trainAcc, ...(hasTest ? [e.testLoss, e.testAcc] : []), e.lr, `${formatNumber(e.seconds)} s`]),
          'Per epoch',
        ),
      ].join('\n'),
    });
  }

  const steps = [...new Set([...Object.keys(results.timings), ...Object.keys(results.products)])];
  if (steps.length > 0) {
    sections.push({
      id: 'cost',
      title: 'Cost',
      body: gridTable(
        ['step', 'time', 'Hessian-vector products'],
        steps.map((s) => [s, formatMs(results.timings[s]), results.products[s]]),
        'Time and operator products per step',
      ),
    });
  }

  if (skipped.length > 0) {
    sections.push({
      id: 'skipped',
      title: 'Left out',
      body: `<p class="note">results.json holds these, but not in a form the report can show:</p><ul>${skipped.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>`,
    });
  }

  const title = `hesse ${results.command} report`;
  const nav = sections.map((s) => `<a href="#${s.id}">${escapeHtml(s.title)}</a>`).join('');
  const inline = (code: string): string => code.replace(/<\/script/gi, '<\\/script');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hesse ${escapeHtml(results.hesse.version)}">
<title>${escapeHtml(title)}</title>
<style>${STYLE}${r.study ? STUDY_STYLE : ''}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><p>${escapeHtml(model.description)} · ${escapeHtml(data.description)} · ${escapeHtml(results.createdAt)}</p></header>
<nav>${nav}</nav>
<main>
${sections.map((s) => section(s.id, s.title, s.body)).join('\n')}
</main>
<script>${inline(bundles.vega)}</script>
<script>${inline(bundles.vegaLite)}</script>
<script>${inline(EMBED_SCRIPT)}</script>
</body>
</html>
`;
}
