import { resolve } from 'node:path';
import type { Command } from 'commander';
import { rebuildReport } from '../../report/index.js';
import type { CommandContext } from '../context.js';

export function registerReport(program: Command, run: (f: (ctx: CommandContext, dir: string, flags: { png: boolean }) => Promise<void>) => (...a: unknown[]) => Promise<void>): void {
  program
    .command('report')
    .description('rebuild the plots and index.html of a results directory from its results.json')
    .argument('<dir>', 'a directory written by hesse (holding results.json)')
    .option('--no-png', 'skip PNG copies of the plots')
    .action(run(async (ctx, dir, flags) => {
      const out = resolve(dir);
      const files = await rebuildReport(out, { png: flags.png });
      for (const line of files.skipped) ctx.progress.say(`left out: ${line}`);
      ctx.print(`report: ${out}/index.html`);
      ctx.printJson({ out, report: `${out}/index.html` });
    }));
}
