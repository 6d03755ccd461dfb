import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@wharf/source'] },
  ssr: { resolve: { conditions: ['@wharf/source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // The consumer test needs the npm registry and minutes: `pnpm test:consumer`.
    exclude: ['test/consumer/**', '**/node_modules/**'],
    globalSetup: ['./test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
