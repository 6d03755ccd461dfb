import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { publicPackages, SOURCE_CONDITION } from './consumer/workspace.js';

/**
 * What every published package's manifest must say, checked without packing: the consumer test
 * (`pnpm test:consumer`) then proves the tarballs themselves install and work.
 */
const root = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  repository: { url: string };
};
const license = readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8');
const PUBLISHED_CONDITIONS = new Set(['types', 'import', 'require', 'default']);

type Exports = { [key: string]: string | Exports };

/** The export map without the in-repository source condition: what pnpm publishes. */
function withoutSource(exports: Exports): Exports {
  return Object.fromEntries(
    Object.entries(exports)
      .filter(([key]) => key !== SOURCE_CONDITION)
      .map(([key, value]) => [key, typeof value === 'string' ? value : withoutSource(value)]),
  );
}

function conditionsOf(exports: Exports): string[] {
  return Object.entries(exports).flatMap(([key, value]) =>
    typeof value === 'string' ? [key] : [key, ...conditionsOf(value)],
  );
}

const packages = publicPackages();

describe('published package manifests', () => {
  it('finds the public packages', () => {
    expect(packages.map((p) => p.manifest.name)).toEqual(
      expect.arrayContaining([
        '@wharf/core',
        '@wharf/http-node',
        '@wharf/http-express',
        '@wharf/storage-fs',
        '@wharf/storage-s3',
        '@wharf/auth',
      ]),
    );
  });

  describe.each(packages.map((p) => [p.manifest.name, p] as const))('%s', (_name, { dir, manifest }) => {
    it('has full metadata on the 0.x line', () => {
      expect(manifest.version).toMatch(/^0\.\d+\.\d+$/);
      expect(manifest.license).toBe('Apache-2.0');
      expect(manifest.engines).toEqual({ node: '>=22' });
      expect(manifest.repository).toEqual({
        type: 'git',
        url: root.repository.url,
        directory: `packages/${dir}`,
      });
      expect(manifest.homepage).toMatch(new RegExp(`/packages/${dir}#readme$`));
      expect(manifest.bugs).toMatch(/\/issues$/);
      expect(manifest.keywords?.length).toBeGreaterThan(0);
      expect(manifest.description).toBeTruthy();
      expect(typeof manifest.sideEffects).toBe('boolean');
      expect(manifest.publishConfig?.access).toBe('public');
    });

    it('builds when packed and ships its README, CHANGELOG and LICENSE', () => {
      expect(manifest.scripts?.prepack).toBe(manifest.scripts?.build);
      expect(manifest.files).toEqual(expect.arrayContaining(['dist', 'src', 'CHANGELOG.md']));
      expect(existsSync(join(REPO_ROOT, 'packages', dir, 'README.md'))).toBe(true);
      expect(readFileSync(join(REPO_ROOT, 'packages', dir, 'CHANGELOG.md'), 'utf8')).toMatch(
        new RegExp(`^# ${manifest.name}\n\n## ${manifest.version.replaceAll('.', '\\.')}\n`),
      );
      expect(readFileSync(join(REPO_ROOT, 'packages', dir, 'LICENSE'), 'utf8')).toBe(license);
    });

    it('publishes only types/import/require/default conditions', () => {
      const published = manifest.publishConfig?.exports as Exports | undefined;
      // A command-line-only package may have no export map at all; then it publishes none either.
      expect(published).toEqual(
        manifest.exports === undefined ? undefined : withoutSource(manifest.exports as Exports),
      );
      for (const condition of conditionsOf(published ?? {})) {
        if (!condition.startsWith('.')) expect(PUBLISHED_CONDITIONS).toContain(condition);
      }
    });

    it('points its source condition at files that exist', () => {
      for (const [subpath, target] of Object.entries((manifest.exports ?? {}) as Exports)) {
        if (typeof target === 'string') continue;
        const source = target[SOURCE_CONDITION];
        expect(source, subpath).toMatch(/^\.\/src\/.+\.ts$/);
        expect(existsSync(join(REPO_ROOT, 'packages', dir, source as string))).toBe(true);
      }
    });

    it('depends on ranges, never on exact versions or workspace-only packages', () => {
      const ranges = { ...manifest.dependencies, ...manifest.peerDependencies };
      for (const [name, range] of Object.entries(ranges)) {
        if (range.startsWith('workspace:')) {
          expect(
            packages.map((p) => p.manifest.name),
            name,
          ).toContain(name);
        } else {
          expect(range, name).toMatch(/^[\^>]/);
        }
      }
    });
  });
});
