import { resolve } from 'node:path';
import type { Command } from 'commander';
import { runDemo } from '../../api/demo.js';
import { finiteExtent, writeReport } from '../../report/index.js';
import type { CommandContext } from '../context.js';
import { fmt } from '../format.js';
import { printAnalysis } from './analyze.js';

export function registerDemo(program: Command, run: (f: (ctx: CommandContext, flags: { out: string; seed: string; png: boolean; quick?: boolean }) => Promise<void>) => (...a: unknown[]) => Promise<void>): void {
  program
    .command('demo')
    .description('offline demo: train a small ResNet on the built-in synthetic set, analyse its Hessian, write a report')
    .option('--out <dir>', 'where the report goes', 'hesse-report')
    .option('--seed <n>', 'random seed', '0')
    .option('--quick', 'every step at tiny sizes, in seconds (a smoke test; the numbers mean little)')
    .option('--no-png', 'skip PNG copies of the plots')
    .action(run(async (ctx, flags) => {
      const t0 = performance.now();
      const out = resolve(flags.out);
      ctx.progress.say(`hesse demo: everything runs offline on built-in data; kernels: ${ctx.kernels}`);
      const { results } = await runDemo({
        out,
        seed: Number(flags.seed),
        kernels: ctx.kernels,
        scale: flags.quick ? 'quick' : 'full',
        onStep: (line) => ctx.progress.say(line),
        onProgress: ctx.onProgress,
        signal: ctx.signal,
      });
      await writeReport(out, results, { png: flags.png });
      ctx.progress.end();
      const last = results.results.training?.epochs.at(-1);
      if (last) ctx.print(`trained: test accuracy ${(100 * (last.testAcc ?? 0)).toFixed(1)}%, train loss ${fmt(last.trainLoss)}`);
      const l = results.results.landscape;
      if (l) ctx.print(`1-D landscape: loss ${fmt(l.originLoss)} at the trained weights, up to ${fmt(finiteExtent(l.loss as number[])?.max ?? NaN)} at ±${l.alphas.at(-1)}`);
      printAnalysis(ctx, results, out);
      ctx.print(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }));
}
