import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // forks only: worker threads segfault with the Temporal native bridge (temporal.md §0.3)
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['./test/helpers/global-setup.ts'],
    include: ['test/reliability/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
