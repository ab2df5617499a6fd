import { Command, CommanderError } from 'commander';
import { HesseError } from '../errors.js';
import { hesseVersion } from '../report/version.js';
import { removeEmptyFolders } from '../report/outputFolder.js';
import { registerAnalyze } from './commands/analyze.js';
import { registerData } from './commands/data.js';
import { registerDemo } from './commands/demo.js';
import { registerTrain } from './commands/train.js';
import { registerWorker } from './commands/worker.js';
import { registerLandscape } from './commands/landscape.js';
import { registerReport } from './commands/report.js';
import { registerStudy } from './commands/study.js';
import { registerStudyWorker } from './commands/studyWorker.js';
import { CommandContext, type GlobalFlags } from './context.js';
import { cliMessage } from './cliTerms.js';
import { foldersMadeByThisCommand } from './sharedFlags.js';
import { nearest } from './suggest.js';

const SHORT_HELP = `hesse ${hesseVersion()}: look at neural networks through their Hessian

  hesse demo                    train a small ResNet on built-in data and write a report (start here)
  hesse analyze --model M --data D [--eigen K --trace --density ...]
  hesse landscape --model M --data D [--directions eigen|random --dims 1|2]
  hesse train --model resnet20 --data D --epochs E --out DIR
  hesse study bn-residual --preset smoke|laptop|paper [--parallel N]
                                the paper's BN / residual study: every variant trained and analysed, table and verdicts
  hesse study-worker --redis URL  run the runs of 'hesse study ... --cluster URL'
  hesse report DIR              rebuild a report from its results.json
  hesse data download cifar10   fetch a dataset
  hesse worker --redis URL      serve products for 'hesse analyze --full-dataset --cluster URL'

Run 'hesse <command> --help' for the options of a command.`;

/** A user's mistake: shown as one line. Anything else is a bug in hesse and also shows its stack with --debug. */
function isUserError(e: unknown): boolean {
  if (e instanceof HesseError) return true;
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && ['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EEXIST', 'ENOSPC', 'EROFS'].includes(code);
}

/** How a command ended, apart from an error: 130 when Ctrl-C stopped it (what finished was written). */
export interface Outcome {
  exitCode: number;
}

export function buildProgram(outcome: Outcome = { exitCode: 0 }): Command {
  const program = new Command();
  program
    .name('hesse')
    .description('Hessian analysis of neural networks: eigenvalues, trace, spectral density, loss landscapes')
    .version(hesseVersion(), '-v, --version')
    .option('-q, --quiet', 'no progress output')
    .option('--json', 'print a machine-readable summary on stdout')
    .option('--debug', 'show stack traces of errors')
    .showSuggestionAfterError(true)
    .allowExcessArguments(true)
    .action(() => {
      const word = program.args.find((a) => !a.startsWith('-'));
      if (word === undefined) {
        if (program.args.length > 0) program.error(`error: unknown option '${program.args[0]}' (run 'hesse --help')`, { exitCode: 2, code: 'commander.unknownOption' });
        return void process.stdout.write(SHORT_HELP + '\n');
      }
      const names = program.commands.map((c) => c.name()).filter((n) => n !== 'help');
      const near = nearest(word, names);
      program.error(`error: unknown command '${word}'${near ? `; did you mean '${near}'?` : ''} (the commands are ${names.join(', ')}; run 'hesse --help')`, {
        exitCode: 2,
        code: 'hesse.unknownCommand',
      });
    });
  program.exitOverride();

  // every action gets a context (progress, Ctrl-C, printing) built from the global flags
  const run =
    <A extends unknown[]>(f: (ctx: CommandContext, ...args: A) => Promise<void>) =>
    async (...args: unknown[]): Promise<void> => {
      const command = args[args.length - 1] as Command;
      const ctx = new CommandContext(command.optsWithGlobals() as GlobalFlags);
      foldersMadeByThisCommand.length = 0;
      try {
        await f(ctx, ...(args.slice(0, -1) as A));
        // stopped by Ctrl-C after writing what finished: a shell or script must see that it did not complete
        if (ctx.signal.aborted) outcome.exitCode = 130;
      } catch (e) {
        // a command that failed before writing anything leaves no empty output folder behind
        await removeEmptyFolders(foldersMadeByThisCommand);
        throw e;
      } finally {
        ctx.close();
      }
    };
  registerDemo(program, run);
  registerAnalyze(program, run);
  registerTrain(program, run);
  registerLandscape(program, run);
  registerStudy(program, run);
  registerStudyWorker(program, run);
  registerReport(program, run);
  registerData(program, run);
  registerWorker(program, run);
  // after the commands, which would inherit it: an unknown first word with options of its own ('hesse analyse --model M') is an unknown command, not an unknown option
  program.allowUnknownOption(true);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const outcome: Outcome = { exitCode: 0 };
  const program = buildProgram(outcome);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return outcome.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : e.exitCode || 2;
    if (debug) process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    else if (isUserError(e)) process.stderr.write(`hesse: ${cliMessage(e as Error)}\n`);
    else process.stderr.write(`hesse: internal error: ${(e as Error).message ?? String(e)} (run again with --debug for the stack, and please report it)\n`);
    return 1;
  }
}
