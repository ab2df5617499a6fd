import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const cliPath = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `hesse` command as a user would (a child process, no terminal). */
export function hesse(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; signalAfterMs?: number; signalWhen?: RegExp; killAfterMs?: number } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    let signalled = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // Ctrl-C once the command says it has started the step (plus a moment for its first products)
      if (opts.signalWhen && !signalled && opts.signalWhen.test(stderr)) {
        signalled = true;
        setTimeout(() => child.kill('SIGINT'), 300);
      }
    });
    if (opts.signalAfterMs !== undefined) setTimeout(() => child.kill('SIGINT'), opts.signalAfterMs);
    // a command that hangs is killed (and shows as signalled, code -1), so the test fails instead of waiting
    if (opts.killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs).unref();
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
