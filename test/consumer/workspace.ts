import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@wharf/test-utils';

/**
 * The export condition that points workspace packages at their TypeScript sources (tsconfig
 * `customConditions`, vitest, `node --conditions`). Published manifests drop it.
 */
export const SOURCE_CONDITION = '@wharf/source';

/** The parts of a package manifest the package checks read. */
export interface PackageManifest {
  name: string;
  version: string;
  private?: boolean;
  description?: string;
  license?: string;
  keywords?: string[];
  homepage?: string;
  bugs?: string;
  repository?: unknown;
  sideEffects?: boolean;
  engines?: Record<string, string>;
  files?: string[];
  scripts?: Record<string, string>;
  exports?: unknown;
  publishConfig?: { access?: string; exports?: unknown };
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/** A package of the workspace that is published: every `packages/*` not marked private. */
export interface PublicPackage {
  /** Its folder name under `packages/`. */
  readonly dir: string;
  readonly manifest: PackageManifest;
}

/** The published packages, discovered from `packages/*` (not a fixed list). */
export function publicPackages(): PublicPackage[] {
  const base = join(REPO_ROOT, 'packages');
  return readdirSync(base)
    .filter((dir) => existsSync(join(base, dir, 'package.json')))
    .map((dir) => ({
      dir,
      manifest: JSON.parse(readFileSync(join(base, dir, 'package.json'), 'utf8')) as PackageManifest,
    }))
    .filter(({ manifest }) => manifest.private !== true)
    .sort((a, b) => a.manifest.name.localeCompare(b.manifest.name));
}
