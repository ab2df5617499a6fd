import type { Command } from 'commander';
import { LANDSCAPE_DEFAULTS, LANDSCAPE_DIRECTIONS, landscapeRun } from '../../api/landscapeRun.js';
import { writeReport } from '../../report/index.js';
import type { CommandContext } from '../context.js';
import { intOption, numberOption } from '../options.js';
import { printLandscape } from '../printResults.js';
import { addCurvatureCommandFlags, startCurvatureCommand, type CurvatureCommandFlags } from '../sharedFlags.js';

export interface LandscapeFlags extends CurvatureCommandFlags {
  directions?: (typeof LANDSCAPE_DIRECTIONS)[number];
  dims?: number;
  steps?: number;
  range?: number;
  includeBiasBn?: boolean;
}

export function registerLandscape(program: Command, run: (f: (ctx: CommandContext, flags: LandscapeFlags) => Promise<void>) => (...a: unknown[]) => Promise<void>): void {
  const cmd = program.command('landscape').description('the loss along one direction or over a plane of two (top eigenvectors or random filter-normalised)');
  addCurvatureCommandFlags(cmd, 'evaluate', false)
    .option('--directions <kind>', `${LANDSCAPE_DIRECTIONS.join(' or ')}: top Hessian eigenvectors (of the Hessian batch) or random filter-normalised directions (default eigen)`)
    .option('--dims <d>', '1 (a curve, the default) or 2 (a surface)', intOption('--dims', 1))
    .option('--steps <n>', `grid points per axis (default ${LANDSCAPE_DEFAULTS.steps})`, intOption('--steps', 2))
    .option('--range <r>', `coordinates run from -r to r (default ${LANDSCAPE_DEFAULTS.range})`, numberOption('--range'))
    .option('--include-bias-bn', 'random directions also move biases and BN parameters')
    .action(run(landscapeCommand));
}

export async function landscapeCommand(ctx: CommandContext, flags: LandscapeFlags): Promise<void> {
  const { dir, common } = await startCurvatureCommand(ctx, flags, 'landscape of');
  const { results } = await landscapeRun({
    ...common,
    directions: flags.directions,
    dims: flags.dims as 1 | 2 | undefined,
    steps: flags.steps,
    range: flags.range,
    includeBiasBn: !!flags.includeBiasBn,
  });
  ctx.progress.end();
  await writeReport(dir, results, { png: flags.png });
  printLandscape(ctx, results, dir);
}
