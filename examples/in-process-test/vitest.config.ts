import { defineConfig } from 'vitest/config';

// Inside this workspace, run against the packages' TypeScript sources (no build needed). A project
// of your own that installs @wharf/core from the registry needs no configuration at all.
export default defineConfig({
  resolve: { conditions: ['@wharf/source'] },
  ssr: { resolve: { conditions: ['@wharf/source'] } },
});
