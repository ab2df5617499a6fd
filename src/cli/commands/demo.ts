import type { Command } from 'commander';
import { runDemo } from '../../api/demo.js';
import { finiteExtent, writeReport } from '../../report/index.js';
import type { CommandContext } from '../context.js';
import { fmt } from '../format.js';
import { printAnalysis } from '../printResults.js';
import { addOutputFlags, addSeedFlag, outputFolder, type OutputFlags } from '../sharedFlags.js';

export function registerDemo(program: Command, run: (f: (ctx: CommandContext, flags: OutputFlags & { seed: number; quick?: boolean }) => Promise<void>) => (...a: unknown[]) => Promise<void>): void {
  const cmd = program
    .command('demo')
    .description('offline demo: train a small ResNet on the built-in synthetic set, analyse its Hessian, write a report')
    .option('--quick', 'every step at tiny sizes, in seconds (a smoke test; the numbers mean little)');
  addSeedFlag(cmd);
  addOutputFlags(cmd, 'hesse-report', 'where the model and the report go').action(
    run(async (ctx, flags) => {
      const t0 = performance.now();
      const out = await outputFolder(flags);
      ctx.progress.say(`hesse demo: everything runs offline on built-in data; kernels: ${ctx.kernels}`);
      const { results } = await runDemo({
        out,
        seed: flags.seed,
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
    }),
  );
}
