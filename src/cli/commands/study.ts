import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { study, studySettings, studySummary, type StudyOptions, type StudyOutput } from '../../api/study.js';
import type { StudyEstimate } from '../../api/studyEstimate.js';
import { PRESET_NAMES } from '../../api/studyPresets.js';
import type { StudyEvent } from '../../api/studyRun.js';
import { STUDY_FILE, STUDY_NAMES } from '../../api/studySettings.js';
import { parseIntegerList, VARIANT_GROUPS, VARIANT_NAMES } from '../../api/studyVariants.js';
import { OptionError } from '../../errors.js';
import { describeLinkEvent, resolveRedisUrl } from '../../parallel/index.js';
import type { StudyCell, StudyResult } from '../../report/index.js';
import type { CommandContext } from '../context.js';
import { fmt } from '../format.js';
import { intOption, numberOption } from '../options.js';
import { addOutputFlags, outputFolder, type OutputFlags } from '../sharedFlags.js';

export interface StudyFlags extends OutputFlags {
  preset?: string;
  data?: string;
  trainSamples?: number;
  testSamples?: number;
  imageSize?: number;
  depths?: string;
  width?: number;
  variants?: string;
  seeds?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  augment: boolean;
  warmupEpochs?: number;
  halvings?: number;
  analyzeEvery?: number;
  hessianBatch?: number;
  fullDataset?: boolean;
  eigen?: number;
  eigenTol?: number;
  coldCheck: boolean;
  traceProducts?: number;
  densitySteps?: number;
  densityProbes?: number;
  parallel?: number;
  cluster?: string | true;
  run?: string;
  workerTimeout?: number;
  summary?: boolean;
  estimate?: boolean;
  yes?: boolean;
}

type Run = (f: (ctx: CommandContext, name: string, flags: StudyFlags) => Promise<void>) => (...a: unknown[]) => Promise<void>;

export function registerStudy(program: Command, run: Run): void {
  const cmd = program
    .command('study')
    .description("the PyHessian paper's study of batch norm and residual connections: train every variant, track its Hessian, table and verdicts (resumable)")
    .argument('<study>', `which study: ${STUDY_NAMES.join(', ')}`)
    .option('--preset <name>', `${PRESET_NAMES.join(', ')}: sizes for a test run (seconds), a laptop (hours) or a cluster (the paper's schedule); flags override it`)
    .option('--data <source>', 'synthetic[:N], cifar10[:DIR] or cifar100[:DIR] (default cifar10 in ./data)')
    .option('--train-samples <n>', 'train on the first n training images', intOption('--train-samples', 1))
    .option('--test-samples <n>', 'test on the first n test images', intOption('--test-samples', 1))
    .option('--image-size <s>', 'shrink the images to s x s by averaging blocks (e.g. 16 or 8)', intOption('--image-size', 1))
    .option('--depths <list>', 'ResNet depths, 6n+2 (default 20,32,38,56)')
    .option('--width <w>', 'channels of the first stage (default 16)', intOption('--width', 1))
    .option('--variants <list>', `variants: ${VARIANT_NAMES.join(', ')}, or the groups ${Object.keys(VARIANT_GROUPS).join(', ')} (default all)`)
    .option('--seeds <list>', 'seeds, one run per variant and seed (default 0)')
    .option('--epochs <n>', 'epochs per run (default 180, PyHessian; its step decay is scaled to them)', intOption('--epochs', 1))
    .option('--batch-size <n>', 'training batch size (default 128)', intOption('--batch-size', 1))
    .option('--lr <lr>', 'base learning rate (default 0.1)', numberOption('--lr'))
    .option('--momentum <m>', 'SGD momentum (default 0.9)', numberOption('--momentum'))
    .option('--weight-decay <wd>', 'weight decay (default 5e-4)', numberOption('--weight-decay'))
    .option('--no-augment', 'no random crop and flip')
    .option('--warmup-epochs <n>', 'a run that diverges at the base rate starts again with this warm-up (default 5 per 180 epochs)', intOption('--warmup-epochs', 1))
    .option('--halvings <n>', '... and may then halve its rate this many times (default 3)', intOption('--halvings', 0))
    .option('--analyze-every <E>', 'curvature every E epochs, and at the end (default a quarter of the epochs)', intOption('--analyze-every', 1))
    .option('--hessian-batch <n>', 'the Hessian on the first n training images (default 200, PyHessian)', intOption('--hessian-batch', 1))
    .option('--full-dataset', 'the Hessian on the whole training set')
    .option('--eigen <k>', 'top eigenvalues per checkpoint (default 1)', intOption('--eigen', 1))
    .option('--eigen-tol <t>', 'Lanczos tolerance (default 1e-3, PyHessian)', numberOption('--eigen-tol'))
    .option('--no-cold-check', 'skip the cold-start Lanczos that measures what the warm start saves')
    .option('--trace-products <n>', 'Hutchinson products for the trace (default 100)', intOption('--trace-products', 1))
    .option('--density-steps <n>', 'Lanczos steps of the spectral density (default 100)', intOption('--density-steps', 1))
    .option('--density-probes <n>', 'probes of the spectral density (default 1)', intOption('--density-probes', 1))
    .option('--parallel <n>', 'runs side by side, each in a worker process of its own (default 1)', intOption('--parallel', 1))
    .option('--cluster [url]', 'one run per job for `hesse study-worker` processes through Redis (redis://host:port; alone: the URL in HESSE_REDIS_URL)')
    .option('--run <name>', 'the run name the study workers serve (default hesse)')
    .option('--worker-timeout <s>', 'with --cluster: give up when runs wait and no worker has been seen for this long (default 120)', intOption('--worker-timeout', 1))
    .option('--summary', 'print the verdicts and the table of the study in --out as it stands; run nothing')
    .option('--estimate', 'print the estimated cost and stop')
    .option('--yes', 'start without asking, whatever the estimate');
  addOutputFlags(cmd, 'hesse-study', 'the study folder: study.json, runs/, results.json, the report').action(run((ctx, name, flags) => studyCommand(ctx, name, flags, cmd)));
}

const list = (text: string | undefined, what: string) => (text === undefined ? undefined : parseIntegerList(text, what));

/** The library's options from the flags; a flag not given leaves the preset's value. */
export function studyOptions(name: string, flags: StudyFlags, cmd?: { given(flag: string): boolean }): Omit<StudyOptions, 'out'> {
  if (flags.fullDataset && flags.hessianBatch !== undefined) throw new OptionError('give the Hessian either a batch (--hessian-batch) or the whole training set (--full-dataset), not both');
  const given = (k: string) => cmd?.given(k) ?? false;
  const o: Omit<StudyOptions, 'out'> = {
    study: name,
    preset: flags.preset,
    data: flags.data,
    trainSamples: flags.trainSamples,
    testSamples: flags.testSamples,
    imageSize: flags.imageSize,
    depths: list(flags.depths, '--depths'),
    width: flags.width,
    variants: flags.variants?.split(',').map((s) => s.trim()),
    seeds: list(flags.seeds, '--seeds'),
    epochs: flags.epochs,
    batchSize: flags.batchSize,
    lr: flags.lr,
    momentum: flags.momentum,
    weightDecay: flags.weightDecay,
    warmupEpochs: flags.warmupEpochs,
    halvings: flags.halvings,
    hessianBatch: flags.fullDataset ? null : flags.hessianBatch,
    eigen: flags.eigen,
    eigenTol: flags.eigenTol,
    traceProducts: flags.traceProducts,
    densitySteps: flags.densitySteps,
    densityProbes: flags.densityProbes,
    parallel: flags.parallel,
  };
  if (flags.cluster) {
    o.cluster = {
      redisUrl: resolveRedisUrl(flags.cluster === true ? undefined : flags.cluster, '--cluster'),
      runName: flags.run ?? 'hesse',
      ...(flags.workerTimeout !== undefined ? { workerTimeoutMs: flags.workerTimeout * 1000 } : {}),
    };
  } else if (flags.run !== undefined) throw new OptionError('--run names the cluster run: give it with --cluster');
  if (given('augment')) o.augment = flags.augment;
  if (given('coldCheck')) o.coldStartCheck = flags.coldCheck;
  if (flags.analyzeEvery !== undefined) o.analyzeEvery = flags.analyzeEvery;
  return o;
}

function hours(h: number): string {
  if (h < 1 / 60) return `${Math.max(1, Math.round(h * 3600))} s`;
  if (h < 1) return `${Math.round(h * 60)} min`;
  if (h < 48) return `${h.toFixed(1)} h`;
  return `${(h / 24).toFixed(1)} days`;
}

export function estimateLine(e: StudyEstimate): string {
  return `estimated cost: ${hours(e.computeHours)} of compute for ${e.runs} run${e.runs === 1 ? '' : 's'}, about ${hours(e.wallHours)} on ${e.workers} worker${e.workers === 1 ? '' : 's'} (${e.basis})`;
}

function narrate(ctx: CommandContext): (e: StudyEvent) => void {
  let ended = 0;
  return (e) => {
    switch (e.type) {
      case 'run-start':
        ctx.progress.say(`${e.run}: ${e.from.epoch || e.from.step ? `continuing from epoch ${e.from.epoch + 1}, step ${e.from.step + 1}` : 'training'} ${e.model}${e.attempt === 'warmup' ? ' (with warm-up)' : ''}`);
        break;
      case 'step':
        ctx.progress.update(`${e.run} epoch ${e.epoch + 1}/${e.epochs}`, e.step + 1, e.steps, 'steps');
        break;
      case 'epoch':
      case 'curvature':
        // the checkpoint's line says what the curvature came to
        break;
      case 'checkpoint':
        ctx.progress.say(
          `${e.run} after epoch ${e.record.epoch}: top eigenvalue ${fmt(e.record.topEigenvalues[0])} (${e.record.eigenProducts} products${e.record.warmStart ? ', warm start' : ''}${e.record.cold ? `; cold ${e.record.cold.products}` : ''}), trace ${fmt(e.record.trace)}, train loss ${fmt(e.record.trainLoss)}${e.record.testAccuracy !== undefined ? `, test accuracy ${(100 * e.record.testAccuracy).toFixed(1)}%` : ''}`,
        );
        break;
      case 'divergence':
        ctx.progress.say(`${e.run}: ${e.message}; next: ${e.next}`);
        break;
      case 'run-end':
        ended++;
        ctx.progress.say(`${e.run}: ${e.result.status} (${ended} finished in this session)`);
        break;
    }
  };
}

function showCell(c: StudyCell | null, percent = false): string {
  if (!c) return '—';
  const f = (x: number) => (percent ? `${(100 * x).toFixed(1)}%` : fmt(x));
  return c.sd === undefined ? f(c.mean) : `${f(c.mean)} ± ${f(c.sd)}`;
}

/** The table as aligned text. */
export function tableLines(s: StudyResult): string[] {
  const head = ['depth', 'variant', 'seeds', 'top eigenvalue', 'trace', 'train loss', 'test acc', 'needed'];
  const rows = s.table.map((r) => [
    String(r.depth),
    r.label,
    `${r.finished}/${r.seeds}${r.diverged ? ` (${r.diverged} div.)` : ''}`,
    showCell(r.topEigenvalue),
    showCell(r.trace),
    showCell(r.trainLoss),
    showCell(r.testAccuracy, true),
    r.needed || '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

export function verdictLines(s: StudyResult): string[] {
  return s.verdicts.map((v) => `[${v.outcome}] ${v.statement} ${v.decidedBy}`);
}

function printStudy(ctx: CommandContext, out: StudyOutput): void {
  const s = out.section!;
  ctx.print(`${s.finished} of ${s.total} runs finished${out.completed ? '' : ' (run the same command again to continue)'}`);
  for (const l of tableLines(s)) ctx.print(l);
  ctx.print();
  ctx.print('verdicts:');
  for (const l of verdictLines(s)) ctx.print(`  ${l}`);
  if (s.warmStart) {
    const w = s.warmStart;
    ctx.print(`warm start: ${w.warmProducts} Lanczos products instead of ${w.coldProducts} from a random start over ${w.checkpoints} checkpoints (${(100 * w.savedFraction).toFixed(0)}% saved; top eigenvalues agree to ${w.largestEigenvalueGap.toExponential(1)})`);
  }
  ctx.print(`report: ${out.dir}/index.html`);
  ctx.printJson({ out: out.dir, report: `${out.dir}/index.html`, completed: out.completed, finished: s.finished, total: s.total, table: s.table, verdicts: s.verdicts, warmStart: s.warmStart, estimate: out.estimate });
}

/** A study whose wall time is longer than this (in hours: 10 minutes) asks before it starts, on a terminal. */
export const CONFIRM_ABOVE_HOURS = 1 / 6;

/**
 * What to do after the estimate: stop there (--estimate), ask (a long study, on a terminal, without
 * --yes or --quiet), or start. Never asks when stdin or stderr is not a terminal.
 */
export function estimateDecision(
  e: Pick<StudyEstimate, 'wallHours'>,
  o: { estimateOnly: boolean; yes: boolean; quiet: boolean; stdinTTY: boolean; stderrTTY: boolean },
): 'stop' | 'ask' | 'start' {
  if (o.estimateOnly) return 'stop';
  const interactive = o.stdinTTY && o.stderrTTY && !o.yes && !o.quiet;
  return interactive && e.wallHours > CONFIRM_ABOVE_HOURS ? 'ask' : 'start';
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export async function studyCommand(ctx: CommandContext, name: string, flags: StudyFlags, command?: Command): Promise<void> {
  if (flags.summary) {
    const out = await studySummary(flags.out);
    printStudy(ctx, out);
    return;
  }
  const given = { given: (k: string) => command?.getOptionValueSource(k) === 'cli' };
  const options = studyOptions(name, flags, given);
  // every setting checked before the folder is made
  studySettings(options);
  const dir = flags.estimate ? resolve(flags.out) : await outputFolder(flags, existsSync(join(resolve(flags.out), STUDY_FILE)));
  const out = await study({
    ...options,
    out: dir,
    report: { png: flags.png },
    commandLine: ctx.argv,
    signal: ctx.signal,
    onEvent: narrate(ctx),
    onNote: (line) => ctx.progress.say(line),
    ...(options.cluster ? { cluster: { ...options.cluster, onLinkEvent: (e) => ctx.progress.say(describeLinkEvent(e)) } } : {}),
    onEstimate: async (e) => {
      ctx.progress.say(estimateLine(e));
      const decision = estimateDecision(e, { estimateOnly: !!flags.estimate, yes: !!flags.yes, quiet: !!ctx.flags.quiet, stdinTTY: !!process.stdin.isTTY, stderrTTY: !!process.stderr.isTTY });
      return decision === 'ask' ? confirm('start the study? [y/N] ') : decision === 'start';
    },
  });
  ctx.progress.end();
  if (!out.started) {
    ctx.printJson({ estimate: out.estimate });
    if (!flags.estimate) ctx.print('not started');
    return;
  }
  printStudy(ctx, out);
}
