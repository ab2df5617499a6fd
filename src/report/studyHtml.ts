/**
 * The study's part of the report: the verdicts and the paper's table first (the first screen),
 * then the figures, the warm start's saving, every run and the decision rules.
 */
import { escapeHtml, formatNumber, gridTable, keyValueTable } from './htmlFormat.js';
import type { PlotId } from './reportPlots.js';
import type { StudyCell, StudyResult } from './studyResults.js';

export const STUDY_STYLE = `
.verdict{margin:6px 0;padding:6px 10px;border-left:5px solid #999;background:#f7f7f7}
.verdict.agrees{border-color:#2a9d4b}.verdict.disagrees{border-color:#c0392b}.verdict.cannot-tell{border-color:#999}
.verdict .outcome{font-weight:bold;text-transform:uppercase;font-size:12px;margin-right:8px}
.verdict .numbers{display:block;color:#555;font-size:12px;margin-top:3px}
`;

function showCell(c: StudyCell | null, percent = false): string {
  if (!c) return '—';
  const f = (x: number) => (percent ? `${formatNumber(Number((100 * x).toPrecision(4)))}%` : formatNumber(Number(x.toPrecision(4))));
  return c.sd === undefined ? f(c.mean) : `${f(c.mean)} ± ${f(c.sd)} (${c.values.length})`;
}

function verdictsHtml(s: StudyResult): string {
  const items = s.verdicts
    .map(
      (v) =>
        `<div class="verdict ${v.outcome.replace(' ', '-')}" data-claim="${escapeHtml(v.claim)}"><span class="outcome">${escapeHtml(v.outcome)}</span>${escapeHtml(v.statement)}<span class="numbers">${escapeHtml(v.decidedBy)}</span></div>`,
    )
    .join('\n');
  const progress = s.finished < s.total ? `<p class="note">${s.finished} of ${s.total} runs finished; the verdicts use those.</p>` : '';
  return `${progress}${items}<p class="note">How a verdict is decided: see <a href="#study-rules">the rules</a>.</p>`;
}

function tableHtml(s: StudyResult): string {
  const rows = s.table.map((r) => [
    `ResNet-${r.depth}`,
    r.label,
    `${r.finished}/${r.seeds}${r.diverged ? ` (${r.diverged} diverged)` : ''}`,
    showCell(r.topEigenvalue),
    showCell(r.trace),
    showCell(r.trainLoss),
    showCell(r.testAccuracy, true),
    r.needed || '—',
  ]);
  return gridTable(['depth', 'variant', 'seeds done', 'top eigenvalue', 'trace', 'train loss', 'test accuracy', 'needed'], rows, 'At the end of training: mean ± sd over seeds (count)');
}

function runsHtml(s: StudyResult): string {
  const rows = s.runs.map((r) => {
    const last = r.checkpoints.reduce<(typeof r.checkpoints)[number] | undefined>((a, c) => (!a || c.epoch > a.epoch ? c : a), undefined);
    return [
      r.id,
      r.status,
      r.parameters,
      r.checkpoints.map((c) => c.epoch).join(', ') || '—',
      last?.topEigenvalues[0],
      last?.trace,
      last?.esdWidth,
      last?.testAccuracy,
      r.needed.warmup ? `warm-up${r.needed.halvings ? `, lr × ${r.needed.lrScale}` : ''}` : r.needed.halvings ? `lr × ${r.needed.lrScale}` : '—',
      r.sessions.map((x) => `${x.worker ?? x.host}@${x.from.epoch}.${x.from.step}`).join(' → '),
    ];
  });
  return gridTable(['run', 'status', 'parameters', 'analysed after epochs', 'top eigenvalue', 'trace', 'ESD width', 'test accuracy', 'needed', 'sessions (runner@epoch.step)'], rows, 'Every run, at its last checkpoint');
}

/** The study's sections of the page, in order; `fig` draws a plot when the results have it. */
export function studySections(s: StudyResult, fig: (id: PlotId) => string): { id: string; title: string; body: string }[] {
  const w = s.warmStart;
  const estimate = s.estimate;
  return [
    { id: 'study-verdicts', title: `Verdicts: the PyHessian paper's claims on batch norm and residual connections`, body: verdictsHtml(s) },
    { id: 'study-table', title: 'The table', body: tableHtml(s) },
    {
      id: 'study-figures',
      title: 'Figures',
      body: [fig('study-esd'), fig('study-trajectory'), fig('study-stagewise'), fig('study-sharpness')].filter(Boolean).join('\n') || '<p class="note">No run has finished yet.</p>',
    },
    {
      id: 'study-cost',
      title: 'Warm start and cost',
      body: keyValueTable(
        [
          ['checkpoints with a warm and a cold Lanczos', w?.checkpoints ?? 0],
          ['products, warm-started from the previous checkpoint', w?.warmProducts],
          ['products, from a random start', w?.coldProducts],
          ['saved by the warm start', w ? `${formatNumber(Number((100 * w.savedFraction).toPrecision(3)))}%` : undefined],
          ['largest relative gap between warm and cold top eigenvalue', w?.largestEigenvalueGap],
          ['estimated before the start', estimate ? `${formatNumber(Number(estimate.computeHours.toPrecision(3)))} h of compute, ${formatNumber(Number(estimate.wallHours.toPrecision(3)))} h on ${estimate.workers} worker(s) for ${estimate.runs} runs (${estimate.basis})` : undefined],
        ],
        'Lanczos warm start',
      ),
    },
    { id: 'study-runs', title: 'Runs', body: runsHtml(s) },
    { id: 'study-rules', title: 'How the verdicts are decided', body: `<ol>${s.rules.map((r) => `<li>${escapeHtml(r)}</li>`).join('')}</ol>` },
  ];
}
