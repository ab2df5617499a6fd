import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DATA_DEFAULTS, type CurvatureDataOptions } from '../api/curvatureData.js';
import { openModelAndData, SPLITS, type ModelAndData } from '../api/modelAndData.js';
import { BN_MODES, CURVATURE_KINDS, LOSS_KINDS, type CurvatureKind } from '../curvature/index.js';
import { describeLinkEvent, resolveRedisUrl } from '../parallel/index.js';
import type { BnMode, LossKind } from '../nn/index.js';
import { prepareOutputFolder } from '../report/index.js';
import type { CommandContext } from './context.js';
import { clusterNarrator } from './narration.js';
import { intOption } from './options.js';

/**
 * The flags several commands share, defined once: each `add...` puts a group of flags on a
 * command, and the function beside it turns the parsed flags into the library's options. Choices
 * and defaults are the library's; the flags only carry them.
 */

const DATA_SOURCES = 'synthetic[:N], cifar10[:DIR], cifar100[:DIR] or FILE.safetensors (x, y: images and labels, token ids and token labels, or features and float targets)';

export interface ModelDataFlags {
  model: string;
  data: string;
  split?: (typeof SPLITS)[number];
  arch?: string;
  seed: number;
}

/** --model FILE, --data, --split, --arch (analyze and landscape). */
export function addModelDataFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--model <file>', 'the model: .safetensors weights (PyTorch state-dict names) or an .onnx graph')
    .requiredOption('--data <source>', DATA_SOURCES)
    .option('--split <split>', `which split of the data: ${SPLITS.join(' or ')} (default train, as PyHessian)`)
    .option('--arch <arch>', 'architecture when the file does not say (e.g. resnet20, resnet32-nobn, mlp:784-100-10:tanh)');
}

export function openInputs(ctx: CommandContext, flags: ModelDataFlags): Promise<ModelAndData> {
  return openModelAndData({ model: flags.model, arch: flags.arch, data: flags.data, split: flags.split, seed: flags.seed, onNote: (line) => ctx.progress.say(line) });
}

/** --data alone (train). */
export function addDataFlag(cmd: Command): Command {
  return cmd.requiredOption('--data <source>', DATA_SOURCES);
}

export interface CurvatureDataFlags {
  batch?: number;
  fullDataset?: boolean;
  bnMode?: BnMode;
  loss?: LossKind;
  ignoreIndex?: number;
  curvature?: CurvatureKind;
  workers?: number;
  cluster?: string | true;
  run?: string;
}

/** --batch, --full-dataset, --bn-mode, --loss, --ignore-index, --workers, --cluster, --run (analyze and landscape); --curvature with `kinds`. */
export function addCurvatureDataFlags(cmd: Command, verb: string, kinds: boolean): Command {
  cmd
    .option('--batch <N>', `${verb} on the first N samples (default ${DATA_DEFAULTS.batch})`, intOption('--batch', 1))
    .option('--full-dataset', `${verb} on the whole dataset (batches of ${DATA_DEFAULTS.datasetBatchSize})`)
    .option('--bn-mode <mode>', `batch norm statistics: ${BN_MODES.join(' or ')} (default eval: running statistics, as PyHessian)`)
    .option('--loss <loss>', `${LOSS_KINDS.join(' or ')} (default cross-entropy, over class or token labels; mse: mean squared error against float targets, or one-hot labels)`)
    .option('--ignore-index <N>', "cross-entropy: leave out targets equal to N (padding; PyTorch's ignore_index, e.g. -100)", intOption('--ignore-index', Number.MIN_SAFE_INTEGER));
  if (kinds) cmd.option('--curvature <kind>', `${CURVATURE_KINDS.join(' or ')} (the generalised Gauss-Newton); default hessian`);
  return cmd
    .option('--workers <n>', 'with --full-dataset: worker threads (default one per core; 1 runs in this thread)', intOption('--workers', 1))
    .option('--cluster [url]', 'with --full-dataset: send the work to `hesse worker` processes through Redis (redis://host:port; alone: the URL in HESSE_REDIS_URL)')
    .option('--run <name>', 'the run name the cluster workers serve (default hesse)');
}

/** The Redis URL of --cluster: given, or (for --cluster alone) HESSE_REDIS_URL, which keeps a password out of process lists. */

export function curvatureDataOptions(ctx: CommandContext, flags: CurvatureDataFlags): Omit<CurvatureDataOptions, 'model' | 'dataset' | 'normalize'> {
  return {
    curvature: { bnMode: flags.bnMode, kind: flags.curvature, loss: flags.loss, ignoreIndex: flags.ignoreIndex },
    batch: flags.batch,
    fullDataset: flags.fullDataset,
    workers: flags.workers,
    ...(flags.cluster
      ? {
          cluster: {
            redisUrl: resolveRedisUrl(flags.cluster === true ? undefined : flags.cluster, '--cluster'),
            runName: flags.run ?? 'hesse',
            onProgress: clusterNarrator(ctx),
            // Redis lost and back, said once each; a first Ctrl-C stops a coordinator waiting on a lost job
            onEvent: (e) => ctx.progress.say(describeLinkEvent(e)),
            signal: ctx.signal,
          },
        }
      : {}),
  };
}

/** --seed. */
export function addSeedFlag(cmd: Command, what = 'random seed'): Command {
  return cmd.option('--seed <n>', `${what} (default 0)`, intOption('--seed', 0), 0);
}

export interface OutputFlags {
  out: string;
  png: boolean;
  force?: boolean;
}

/** --out DIR, --force, --no-png (every command that writes a report). */
export function addOutputFlags(cmd: Command, dir: string, what = 'where results.json and the report go'): Command {
  return cmd
    .option('--out <dir>', what, dir)
    .option('--force', 'write into a folder that holds files hesse did not write (they are left alone)')
    .option('--no-png', 'skip PNG copies of the plots');
}

/**
 * The output folder, checked before any work starts: created, and refused when it holds files
 * hesse did not write (unless --force or `ours`).
 */
export async function outputFolder(flags: OutputFlags, ours = false): Promise<string> {
  const dir = resolve(flags.out);
  foldersMadeByThisCommand.push(...(await prepareOutputFolder(dir, { force: !!flags.force, ours })));
  return dir;
}

/** The folders outputFolder created for the command now running: removed again, where still empty, when it fails. */
export const foldersMadeByThisCommand: string[] = [];

export type CurvatureCommandFlags = ModelDataFlags & CurvatureDataFlags & OutputFlags;

/** Every flag analyze and landscape share: model and data, the curvature and where it runs, the seed, the output. */
export function addCurvatureCommandFlags(cmd: Command, verb: string, kinds: boolean): Command {
  addModelDataFlags(cmd);
  addCurvatureDataFlags(cmd, verb, kinds);
  addSeedFlag(cmd);
  return addOutputFlags(cmd, 'hesse-report');
}

/**
 * What analyze and landscape do before their operation, in this order so that mistakes show
 * before any work: the output folder, where the products run, the model and data. Returns the
 * folder and the options both operations take.
 */
export async function startCurvatureCommand(ctx: CommandContext, flags: CurvatureCommandFlags, doing: string) {
  const dir = await outputFolder(flags);
  const where = curvatureDataOptions(ctx, flags);
  const opened = await openInputs(ctx, flags);
  ctx.progress.say(`${doing} ${opened.inputs.model!.description} on ${opened.inputs.data!.description}`);
  const onNote = (line: string) => ctx.progress.say(line);
  return { dir, common: { ...opened, ...where, seed: flags.seed, commandLine: ctx.argv, onProgress: ctx.onProgress, onNote, signal: ctx.signal } };
}
