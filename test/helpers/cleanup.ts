/**
 * The one cleanup helper of the test suite: whatever a test opens (pipelines, pools, pg clients,
 * HTTP servers, workers) is registered here and closed after that test, whether it passed or not,
 * newest first. Importing this module registers the `afterEach` hook in the importing test file.
 */
import { afterEach } from 'vitest';

type Closer = () => unknown;

const pending: Closer[] = [];

afterEach(async () => {
  const errors: unknown[] = [];
  for (const close of pending.splice(0).reverse()) {
    try {
      await close();
    } catch (e) {
      errors.push(e);
    }
  }
  // a close that fails after a passing test is worth knowing about, but must not hide the test's own failure
  if (errors.length) process.stderr.write(`test cleanup: ${errors.length} close(s) failed: ${errors.map((e) => (e as Error)?.message ?? e).join('; ')}\n`);
});

/** Runs `close` after the current test. */
export function onCleanup(close: Closer): void {
  pending.push(close);
}

/** Closes `x` (anything with `close()` or `end()`) after the current test; returns it. */
export function cleanup<T extends { close(): unknown } | { end(): unknown }>(x: T): T {
  onCleanup(() => ('close' in x ? x.close() : x.end()));
  return x;
}
