import { defineConfig } from 'tsup';

/**
 * One ESM bundle with the workspace packages compiled in from their sources, so the server starts
 * without building (or type-declaring) the libraries first; third-party dependencies stay
 * external. tsup keeps external only what package.json lists, so every third-party module the
 * bundled packages load must be listed there (test/bundle.test.ts checks). `WHARF_BUNDLE_ALL=1`
 * also inlines those: a self-contained directory for a container image (`WHARF_BUNDLE_OUT` names
 * it).
 */
export default defineConfig({
  entry: { cli: 'src/cli.ts' },
  outDir: process.env.WHARF_BUNDLE_OUT ?? 'dist',
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  clean: true,
  splitting: true,
  noExternal: process.env.WHARF_BUNDLE_ALL === '1' ? [/./] : [/^@wharf\//],
  esbuildOptions(options) {
    options.conditions = ['@wharf/source'];
    if (process.env.WHARF_BUNDLE_ALL === '1') {
      // Bundled CommonJS dependencies call require(): give the ESM bundle one.
      options.banner = {
        js: "import { createRequire as __wharfCreateRequire } from 'node:module'; const require = __wharfCreateRequire(import.meta.url);",
      };
    }
  },
});
