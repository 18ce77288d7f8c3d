/** Runs the `tide` command as a user does (`node bin/tide.js …`, stdout and stderr piped: no terminal). */
import { spawn } from 'node:child_process';
import { pgUrl } from './pipelines.ts';

export interface TideExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from the first "backfill done" on stdout to the exit (undefined: never printed). */
  afterDoneMs?: number;
}

/**
 * `tide <args>` with `TIDE_HOME=home` on the test's Postgres (`env` overrides, e.g. another `TIDE_POSTGRES_URL`). Killed `timeoutMs` after its start, or
 * `graceMs` after printing "backfill done" when given (a backfill that does not exit).
 */
export function runTide(
  home: string,
  args: string[],
  { timeoutMs = 120_000, graceMs, env = {} }: { timeoutMs?: number; graceMs?: number; env?: Record<string, string> } = {},
): Promise<TideExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/tide.js', ...args], {
      cwd: process.cwd(),
      env: { ...process.env, TIDE_POSTGRES_URL: pgUrl(), TIDE_HOME: home, TIDE_LOG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let doneAt: number | undefined;
    let grace: NodeJS.Timeout | undefined;
    const overall = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (graceMs !== undefined && doneAt === undefined && stdout.includes('backfill done')) {
        doneAt = Date.now();
        grace = setTimeout(() => child.kill('SIGKILL'), graceMs);
      }
    });
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(overall);
      clearTimeout(grace);
      resolve({ code, signal, stdout, stderr, afterDoneMs: doneAt === undefined ? undefined : Date.now() - doneAt });
    });
  });
}
