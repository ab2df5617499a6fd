import { resolve } from 'node:path';
import type { Command } from 'commander';
import { downloadDataset, type CifarName } from '../../data/index.js';
import type { CommandContext } from '../context.js';

export function registerData(program: Command, run: (f: (ctx: CommandContext, name: string, flags: { dir: string }) => Promise<void>) => (...a: unknown[]) => Promise<void>): void {
  const data = program.command('data').description('datasets: download CIFAR-10 / CIFAR-100');
  data
    .command('download')
    .description('download and check the official CIFAR binary archive, then extract it')
    .argument('<name>', 'cifar10 or cifar100')
    .option('--dir <dir>', 'where the data goes', 'data')
    .action(run(async (ctx, name, flags) => {
      const which = name as CifarName;
      const dir = resolve(flags.dir);
      const r = await downloadDataset(which, {
        dir,
        onProgress: (p) => ctx.progress.update(p.phase, Math.round(p.bytes / 2 ** 20), p.total === null ? undefined : Math.round(p.total / 2 ** 20), 'MiB'),
      });
      ctx.progress.end();
      ctx.print(r.downloaded ? `${which} downloaded, checked and extracted into ${r.folder}` : `${which} is ready in ${r.folder}`);
      ctx.printJson(r);
    }));
}
