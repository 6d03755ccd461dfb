import { defineConfig, type Options } from 'tsup';

/**
 * The build of every published package: ESM and CJS with `.d.ts` / `.d.cts` declarations for
 * each entry point, for the oldest supported Node line. Source maps point at `src/`, which the
 * tarballs carry, so they omit `sourcesContent` instead of shipping every source file twice.
 */
export function packageBuild(entry: Record<string, string>): ReturnType<typeof defineConfig> {
  const options: Options = {
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node22',
    esbuildOptions(esbuild) {
      esbuild.sourcesContent = false;
    },
  };
  return defineConfig(options);
}
