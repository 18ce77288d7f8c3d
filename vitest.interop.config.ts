import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// tide ⇄ dlt hand-overs on the shared test Postgres; the Python environments (dlt 1.26.0 and the
// latest) are made first, when missing. The main config's pool, workers and global setup.
export default defineConfig({
  resolve: base.resolve,
  test: {
    ...base.test,
    include: ['test/interop/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/interop/.venv-*/**'],
    globalSetup: [...(base.test?.globalSetup as string[]), './test/interop/venvs-setup.ts'],
    testTimeout: 600_000,
    hookTimeout: 20 * 60_000,
  },
});
