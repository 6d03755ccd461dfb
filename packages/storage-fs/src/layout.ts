import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InvalidKeyError, isRepositoryName, isTag, tryParseDigest } from '@wharf/core';

/** Upload ids are the UUIDs core generates. */
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `id` is a well-formed upload id. */
export function isUploadId(id: string): boolean {
  return UPLOAD_ID.test(id);
}

/** A digest split into the two parts its paths are built from. */
export interface DigestParts {
  readonly algorithm: string;
  readonly hex: string;
}

/**
 * The on-disk layout, compatible with CNCF distribution's filesystem driver under
 * `<root>/docker/registry/v2/`:
 *
 * - `blobs/<alg>/<first 2 hex>/<hex>/data`
 * - `repositories/<name>/_layers/<alg>/<hex>/link`
 * - `repositories/<name>/_manifests/revisions/<alg>/<hex>/link` (+ `mediatype`, wharf's own)
 * - `repositories/<name>/_manifests/tags/<tag>/current/link` and `…/index/<alg>/<hex>/link`
 *
 * wharf's own data lives where distribution never looks: upload sessions and temporary files under
 * `_wharf/` (distribution walks only `blobs/` and `repositories/`), and the referrers index under
 * `repositories/<name>/_referrers/` (distribution's walkers skip `_`-prefixed directories).
 *
 * Every path is built from validated parts only, and then checked to stay inside the root.
 */
export class Layout {
  /** The storage root as given (resolved). */
  readonly root: string;
  /** `<root>/docker/registry/v2`. */
  readonly base: string;
  readonly blobsDir: string;
  readonly repositoriesDir: string;
  readonly uploadsDir: string;
  readonly tmpDir: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.base = join(this.root, 'docker', 'registry', 'v2');
    this.blobsDir = join(this.base, 'blobs');
    this.repositoriesDir = join(this.base, 'repositories');
    this.uploadsDir = join(this.base, '_wharf', 'uploads');
    this.tmpDir = join(this.base, '_wharf', 'tmp');
  }

  /** Joins parts under the base directory, refusing anything that would leave it. */
  #inside(...parts: string[]): string {
    for (const part of parts) {
      if (part.includes('\0')) throw new Error('path component contains NUL');
    }
    const path = join(this.base, ...parts);
    const rel = relative(this.base, path);
    if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new Error(`refusing a path outside the storage root: ${JSON.stringify(parts.join('/'))}`);
    }
    return path;
  }

  /** Validates a digest (supported algorithm, lower-case hex of the right length). */
  digest(digest: string): DigestParts {
    const parsed = tryParseDigest(digest);
    if (!parsed) throw new InvalidKeyError('digest', digest);
    return { algorithm: parsed.algorithm, hex: parsed.encoded };
  }

  /** Validates a repository name and returns its path components. */
  #name(name: string): string[] {
    if (!isRepositoryName(name)) throw new InvalidKeyError('repository', name);
    return name.split('/');
  }

  #tag(tag: string): string {
    if (!isTag(tag)) throw new InvalidKeyError('tag', tag);
    return tag;
  }

  // ---- blobs ----

  /** `blobs/<alg>/<2 hex>/<hex>` */
  blobDir(digest: string): string {
    const { algorithm, hex } = this.digest(digest);
    return this.#inside('blobs', algorithm, hex.slice(0, 2), hex);
  }

  blobData(digest: string): string {
    return join(this.blobDir(digest), 'data');
  }

  // ---- repositories ----

  repository(name: string): string {
    return this.#inside('repositories', ...this.#name(name));
  }

  /** `_layers/<alg>/<hex>/link` */
  layerLink(name: string, digest: string): string {
    const { algorithm, hex } = this.digest(digest);
    return join(this.repository(name), '_layers', algorithm, hex, 'link');
  }

  layersDir(name: string): string {
    return join(this.repository(name), '_layers');
  }

  revisionsDir(name: string): string {
    return join(this.repository(name), '_manifests', 'revisions');
  }

  /** `_manifests/revisions/<alg>/<hex>` */
  revisionDir(name: string, digest: string): string {
    const { algorithm, hex } = this.digest(digest);
    return join(this.revisionsDir(name), algorithm, hex);
  }

  tagsDir(name: string): string {
    return join(this.repository(name), '_manifests', 'tags');
  }

  tagDir(name: string, tag: string): string {
    return join(this.tagsDir(name), this.#tag(tag));
  }

  /** `_manifests/tags/<tag>/current/link` */
  tagCurrentLink(name: string, tag: string): string {
    return join(this.tagDir(name, tag), 'current', 'link');
  }

  /** `_manifests/tags/<tag>/index/<alg>/<hex>/link` */
  tagIndexLink(name: string, tag: string, digest: string): string {
    const { algorithm, hex } = this.digest(digest);
    return join(this.tagDir(name, tag), 'index', algorithm, hex, 'link');
  }

  referrersDir(name: string): string {
    return join(this.repository(name), '_referrers');
  }

  /** `_referrers/<subject alg>/<subject hex>` */
  referrersOf(name: string, subject: string): string {
    const { algorithm, hex } = this.digest(subject);
    return join(this.referrersDir(name), algorithm, hex);
  }

  /** `_referrers/<subject alg>/<subject hex>/<alg>-<hex>.json` */
  referrer(name: string, subject: string, digest: string): string {
    const { algorithm, hex } = this.digest(digest);
    return join(this.referrersOf(name, subject), `${algorithm}-${hex}.json`);
  }

  // ---- uploads ----

  /** The session directory, or `undefined` for an id that cannot name a session. */
  upload(id: string): string | undefined {
    return isUploadId(id) ? this.#inside('_wharf', 'uploads', id) : undefined;
  }

  /** A fresh private name in the temporary directory. */
  temp(prefix: string): string {
    return this.#inside('_wharf', 'tmp', `${prefix}-${uniqueSuffix()}`);
  }
}

let counter = 0;

/** Unique across processes sharing a root (pid) and within one (counter), unguessable (random). */
export function uniqueSuffix(): string {
  counter = (counter + 1) % 0x7fffffff;
  return `${process.pid.toString(36)}-${counter.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}
