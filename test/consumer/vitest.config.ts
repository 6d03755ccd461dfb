import { defineConfig } from 'vitest/config';

// The consumer test (`pnpm test:consumer`): packs, installs from the npm registry, and checks
// what users get. Not part of `vitest run`; CI runs it on its own.
export default defineConfig({
  test: {
    include: ['test/consumer/**/*.test.ts'],
    root: new URL('../..', import.meta.url).pathname,
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 1_800_000,
  },
  resolve: { conditions: ['@wharf/source'] },
  ssr: { resolve: { conditions: ['@wharf/source'] } },
});
