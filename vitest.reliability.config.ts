import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// the main config's pool, workers, global setup and hook timeout; only the reliability tests, with a
// longer test timeout (mergeConfig would concatenate include / exclude instead of replacing them)
export default defineConfig({
  resolve: base.resolve,
  test: {
    ...base.test,
    include: ['test/reliability/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    testTimeout: 300_000,
  },
});
