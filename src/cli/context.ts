import { kernelsInfo } from '../kernels/index.js';
import { Progress } from './progress.js';
import { interruptSignal } from './interrupt.js';

export interface GlobalFlags {
  quiet?: boolean;
  debug?: boolean;
  json?: boolean;
}

/** What every command gets: progress output, a Ctrl-C signal, and how to print. */
export class CommandContext {
  readonly progress: Progress;
  readonly signal: AbortSignal;
  private readonly disposeSignal: () => void;

  constructor(readonly flags: GlobalFlags) {
    // with --json, stdout carries the machine-readable summary alone; narration stays on stderr
    this.progress = new Progress(!!flags.quiet);
    const { signal, dispose } = interruptSignal(() => this.progress.say('\nstopping after the current product (Ctrl-C again to quit at once) ...'));
    this.signal = signal;
    this.disposeSignal = dispose;
  }

  /** The command line as typed (the library stores it with credentials redacted). */
  readonly argv: readonly string[] = process.argv.slice(2);

  get kernels(): string {
    return kernelsInfo().description;
  }

  /** Human-readable output on stdout (suppressed by --json and --quiet). */
  print(line = ''): void {
    if (!this.flags.json && !this.flags.quiet) process.stdout.write(line + '\n');
  }

  /** The machine-readable summary (--json). */
  printJson(value: unknown): void {
    if (this.flags.json) process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }

  onProgress = (stage: string, p: { done: number; total?: number }) => this.progress.update(stage, p.done, p.total);

  close(): void {
    this.progress.end();
    this.disposeSignal();
  }
}
