import cliProgress from 'cli-progress';

/**
 * Progress on stderr. On a terminal: one bar per running step with its rate and time left. Not
 * on a terminal: one line when a step starts and one when it ends (nothing with --quiet).
 */
export class Progress {
  private bar: cliProgress.SingleBar | undefined;
  private stage: string | undefined;
  private started = 0;
  private readonly tty: boolean;

  constructor(private readonly quiet: boolean, stream: NodeJS.WriteStream = process.stderr) {
    this.tty = !!stream.isTTY && !quiet;
  }

  /** A line of narration ("training the model ..."). */
  say(line: string): void {
    if (this.quiet) return;
    this.end();
    process.stderr.write(line + '\n');
  }

  /** Updates the bar of `stage` (starting it when the stage changes). */
  update(stage: string, done: number, total: number | undefined, unit = 'products'): void {
    if (this.quiet) return;
    if (stage !== this.stage) {
      this.end();
      this.stage = stage;
      this.started = performance.now();
      if (this.tty) {
        this.bar = new cliProgress.SingleBar(
          {
            format: `  ${stage.padEnd(14)} [{bar}] {value}/{total} ${unit} | {rate}/s | {eta_formatted} left`,
            hideCursor: true,
            clearOnComplete: false,
            etaBuffer: 20,
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(total ?? done, 0, { rate: '0.0' });
      } else {
        process.stderr.write(`  ${stage} ...\n`);
      }
    }
    if (this.bar) {
      const seconds = (performance.now() - this.started) / 1000;
      if (total !== undefined && total !== this.bar.getTotal()) this.bar.setTotal(total);
      this.bar.update(done, { rate: seconds > 0 ? (done / seconds).toFixed(1) : '0.0' });
    }
  }

  /** Closes the current bar. */
  end(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = undefined;
    } else if (this.stage && !this.quiet && !this.tty) {
      process.stderr.write(`  ${this.stage} done in ${((performance.now() - this.started) / 1000).toFixed(1)} s\n`);
    }
    this.stage = undefined;
  }
}
