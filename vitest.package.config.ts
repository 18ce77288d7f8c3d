import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// npm pack, the tarball installed into fresh projects (npm, tsc, the tide bin there): the main
// config's global setup (the test Postgres and Temporal), one file, long timeouts
export default defineConfig({
  resolve: base.resolve,
  test: {
    ...base.test,
    include: ['test/package/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
  },
});
