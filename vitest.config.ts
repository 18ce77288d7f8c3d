import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // tests import 'tide' as users do, and get the sources (package.json exports point at the build in dist/)
  resolve: { alias: [{ find: /^tide$/, replacement: fileURLToPath(new URL('./index.ts', import.meta.url)) }] },
  test: {
    // forks only: worker threads segfault with the Temporal native bridge
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['./test/helpers/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    // the reliability, interop and package suites have their own configs and commands (npm run test:reliability / test:interop / test:package)
    exclude: ['test/reliability/**', 'test/interop/**', 'test/package/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
