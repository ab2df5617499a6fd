import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultNormalization, openImageDataArg } from '../../api/dataArg.js';
import { parseArch, parseBnStages } from '../../api/modelArg.js';
import { trainRun } from '../../api/trainRun.js';
import { OptionError } from '../../errors.js';
import { buildModel, describeModel, type ModelDescription } from '../../nn/index.js';
import { writeReport } from '../../report/index.js';
import { DivergenceError, pyhessianMilestones, type DivergenceRemedyNames, type ScheduleSpec } from '../../train/index.js';
import type { CommandContext } from '../context.js';
import { fmt } from '../format.js';
import { intOption, numberOption } from '../options.js';
import { addDataFlag, addOutputFlags, addSeedFlag, outputFolder, type OutputFlags } from '../sharedFlags.js';

export interface TrainFlags extends OutputFlags {
  model: string;
  width?: number;
  bn: boolean;
  residual: boolean;
  bnStages?: string;
  data: string;
  epochs: number;
  lr: number;
  batchSize: number;
  momentum: number;
  weightDecay: number;
  nesterov?: boolean;
  schedule: string;
  milestones?: string;
  warmup?: number;
  augment: boolean;
  retryDivergence: number;
  test: boolean;
  seed: number;
  resume?: string;
}

/** A divergence's remedies, named as this command's flags. */
const REMEDY_FLAGS: DivergenceRemedyNames = { lr: '--lr', warmup: '--warmup' };

export function registerTrain(program: Command, run: (f: (ctx: CommandContext, flags: TrainFlags) => Promise<void>) => (...a: unknown[]) => Promise<void>): void {
  const cmd = program
    .command('train')
    .description("train a CIFAR ResNet (or an MLP) with PyHessian's recipe: SGD, momentum 0.9, weight decay 5e-4, step decay")
    .requiredOption('--model <arch>', 'resnet20, resnet32, resnet56, ... (resnetDEPTH, with -nobn, -nores, -wWIDTH) or mlp:SIZES[:ACT]')
    .option('--width <w>', 'ResNet width (channels of the first stage)', intOption('--width', 1))
    .option('--no-bn', 'no batch norm anywhere')
    .option('--no-residual', 'no residual connections')
    .option('--bn-stages <list>', 'batch norm only in these parts: stem,1,2,3 (e.g. stem,1)');
  addDataFlag(cmd)
    .option('--epochs <n>', 'epochs', intOption('--epochs', 1), 180)
    .option('--lr <lr>', 'peak learning rate', numberOption('--lr'), 0.1)
    .option('--batch-size <n>', 'batch size', intOption('--batch-size', 1), 128)
    .option('--momentum <m>', 'SGD momentum', numberOption('--momentum'), 0.9)
    .option('--weight-decay <wd>', 'weight decay', numberOption('--weight-decay'), 5e-4)
    .option('--nesterov', 'Nesterov momentum')
    .option('--schedule <kind>', 'multistep (decay 0.1 at the milestones), cosine or constant', 'multistep')
    .option('--milestones <list>', "epochs of the multi-step decay (default PyHessian's 80,120 of 180, scaled to --epochs)")
    .option('--warmup <epochs>', 'linear learning-rate warm-up over this many epochs (helps networks without BN)', intOption('--warmup', 1))
    .option('--no-augment', 'no random crop and flip')
    .option('--retry-divergence <n>', 'on NaN/inf, restart the epoch with half the learning rate, up to n times', intOption('--retry-divergence', 0), 0)
    .option('--no-test', 'skip the test-set evaluation after each epoch')
    .option('--resume <checkpoint>', 'continue a run from its checkpoint.safetensors');
  addSeedFlag(cmd, 'seed of the initialisation, data order and augmentation');
  addOutputFlags(cmd, 'hesse-train', 'run folder: checkpoint.safetensors every epoch, model.safetensors, the report').action(run(trainCommand));
}

export function modelFromFlags(flags: Pick<TrainFlags, 'model' | 'width' | 'bn' | 'residual' | 'bnStages'>, classes: number): ModelDescription {
  const d = parseArch(flags.model);
  if (d.arch === 'mlp') return d;
  if (flags.width !== undefined) d.width = flags.width;
  d.classes = classes;
  if (!flags.bn) d.batchNorm = false;
  if (flags.bnStages !== undefined) {
    if (!flags.bn) throw new OptionError('--bn-stages and --no-bn contradict each other');
    d.batchNorm = parseBnStages(flags.bnStages);
  }
  if (!flags.residual) d.residual = false;
  return d;
}

function scheduleFrom(flags: TrainFlags): ScheduleSpec {
  if (flags.schedule !== 'multistep') return { kind: flags.schedule } as ScheduleSpec;
  const milestones = flags.milestones
    ? flags.milestones.split(',').map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 1) throw new OptionError(`--milestones takes positive integers separated by commas, got '${s}'`);
        return n;
      })
    : pyhessianMilestones(flags.epochs);
  return { kind: 'multistep', milestones, gamma: 0.1 };
}

export async function trainCommand(ctx: CommandContext, flags: TrainFlags): Promise<void> {
  const resume = flags.resume ? resolve(flags.resume) : undefined;
  // resuming into the folder of the checkpoint: it is hesse's even before it holds results
  const out = await outputFolder(flags, resume !== undefined && dirname(resume) === resolve(flags.out));
  const trainData = await openImageDataArg(flags.data, 'train', flags.seed);
  const testData = flags.test ? await openImageDataArg(flags.data, 'test', flags.seed) : undefined;
  const normalize = defaultNormalization(trainData.spec);
  const description = resume ? undefined : modelFromFlags(flags, trainData.dataset.classes);
  const model = description ? buildModel(description, flags.seed) : undefined;
  ctx.progress.say(
    `${resume ? `resuming ${flags.resume}` : `training ${describeModel(description!)}`} on ${trainData.description} for ${flags.epochs} epochs (lr ${flags.lr}, batch ${flags.batchSize})`,
  );
  const r = await trainRun(model, {
    trainSet: trainData.dataset,
    ...(testData ? { testSet: testData.dataset } : {}),
    normalize,
    epochs: flags.epochs,
    batchSize: flags.batchSize,
    lr: flags.lr,
    momentum: flags.momentum,
    weightDecay: flags.weightDecay,
    nesterov: !!flags.nesterov,
    schedule: scheduleFrom(flags),
    ...(flags.warmup ? { warmup: { epochs: flags.warmup } } : {}),
    augment: flags.augment,
    seed: flags.seed,
    ...(flags.retryDivergence > 0 ? { retryOnDivergence: { times: flags.retryDivergence } } : {}),
    out,
    ...(resume ? { resume } : {}),
    inputs: { data: { description: trainData.description, source: flags.data, classes: trainData.dataset.classes } },
    commandLine: ctx.argv,
    signal: ctx.signal,
    onProgress: (p) => ctx.progress.update(`epoch ${p.epoch + 1}/${p.epochs}`, p.step + 1, p.stepsPerEpoch, 'steps'),
    onEpoch: (e) =>
      ctx.progress.say(
        `epoch ${e.epoch + 1}: train loss ${fmt(e.trainLoss)} acc ${(100 * e.trainAccuracy).toFixed(1)}%` +
          (e.testLoss !== undefined ? `, test loss ${fmt(e.testLoss)} acc ${(100 * e.testAccuracy!).toFixed(1)}%` : '') +
          ` (${e.seconds.toFixed(1)} s, ${e.imagesPerSecond.toFixed(0)} images/s)`,
      ),
    onRetry: (n) => ctx.progress.say(`${n.error.describe(REMEDY_FLAGS)}; retrying the epoch with the learning rate × ${n.lrScale}`),
  }).catch((e: unknown) => {
    if (e instanceof DivergenceError) e.message = e.describe(REMEDY_FLAGS);
    throw e;
  });
  ctx.progress.end();
  await writeReport(out, r.results, { png: flags.png });
  ctx.print(`${r.completed ? 'trained' : 'stopped early; the checkpoint holds the last finished step'}: ${r.modelPath}`);
  ctx.print(`checkpoint: ${r.checkpointPath}   report: ${out}/index.html`);
  ctx.printJson({ model: r.modelPath, checkpoint: r.checkpointPath, report: `${out}/index.html`, completed: r.completed, history: r.history });
}
