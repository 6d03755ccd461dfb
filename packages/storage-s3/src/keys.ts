/**
 * The key layout, shared with the filesystem backend and compatible with CNCF distribution's:
 *
 * ```text
 * <prefix>docker/registry/v2/
 *   blobs/<alg>/<hex[0:2]>/<hex>/data
 *   repositories/<name>/_layers/<alg>/<hex>/link
 *   repositories/<name>/_manifests/revisions/<alg>/<hex>/link      (x-amz-meta-media-type)
 *   repositories/<name>/_manifests/tags/<tag>/current/link
 *   repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link
 *   repositories/<name>/_referrers/<subject alg>/<subject hex>/<alg>/<hex>      (wharf's own)
 *   _wharf/uploads/<id>/...                                          (wharf's own upload sessions)
 * ```
 *
 * Keys are built only from parts core has validated (digests, names, tags, UUIDs).
 */
export class Keys {
  /** `<prefix>docker/registry/v2/` */
  readonly root: string;

  constructor(prefix: string) {
    const normalized = prefix.replace(/^\/+/, '');
    this.root = `${normalized && !normalized.endsWith('/') ? `${normalized}/` : normalized}docker/registry/v2/`;
  }

  get blobs(): string {
    return `${this.root}blobs/`;
  }

  blob(digest: string): string {
    const [alg, hex] = split(digest);
    return `${this.root}blobs/${alg}/${hex.slice(0, 2)}/${hex}/data`;
  }

  /** Written by `touch`: its date counts as the blob's modification date. */
  blobTouched(digest: string): string {
    const [alg, hex] = split(digest);
    return `${this.root}blobs/${alg}/${hex.slice(0, 2)}/${hex}/touched`;
  }

  /** The digest of a `blobs/.../data` key, or `null` for anything else. */
  digestOfBlobKey(key: string): string | null {
    const match = /^([a-z0-9]+)\/[0-9a-f]{2}\/([0-9a-f]+)\/data$/.exec(key.slice(this.blobs.length));
    return key.startsWith(this.blobs) && match ? `${match[1]}:${match[2]}` : null;
  }

  get repositories(): string {
    return `${this.root}repositories/`;
  }

  repository(name: string): string {
    return `${this.root}repositories/${name}/`;
  }

  layers(name: string): string {
    return `${this.repository(name)}_layers/`;
  }

  layerLink(name: string, digest: string): string {
    const [alg, hex] = split(digest);
    return `${this.layers(name)}${alg}/${hex}/link`;
  }

  revisions(name: string): string {
    return `${this.repository(name)}_manifests/revisions/`;
  }

  revisionLink(name: string, digest: string): string {
    const [alg, hex] = split(digest);
    return `${this.revisions(name)}${alg}/${hex}/link`;
  }

  tags(name: string): string {
    return `${this.repository(name)}_manifests/tags/`;
  }

  tag(name: string, tag: string): string {
    return `${this.tags(name)}${tag}/`;
  }

  tagCurrent(name: string, tag: string): string {
    return `${this.tag(name, tag)}current/link`;
  }

  tagIndex(name: string, tag: string, digest: string): string {
    const [alg, hex] = split(digest);
    return `${this.tag(name, tag)}index/${alg}/${hex}/link`;
  }

  referrers(name: string, subject: string): string {
    const [alg, hex] = split(subject);
    return `${this.repository(name)}_referrers/${alg}/${hex}/`;
  }

  referrer(name: string, subject: string, digest: string): string {
    const [alg, hex] = split(digest);
    return `${this.referrers(name, subject)}${alg}/${hex}`;
  }

  get uploads(): string {
    return `${this.root}_wharf/uploads/`;
  }

  upload(id: string): string {
    return `${this.uploads}${id}/`;
  }

  get probe(): string {
    return `${this.root}_wharf/probe/`;
  }

  /** Where replicas announce deletions (see `cache/notices.ts`). */
  get deletionNotices(): string {
    return `${this.root}_wharf/deleting/`;
  }
}

/** `alg:hex` → `[alg, hex]`, for `<alg>/<hex>` path segments. */
export function split(digest: string): [string, string] {
  const colon = digest.indexOf(':');
  return [digest.slice(0, colon), digest.slice(colon + 1)];
}

/** `<alg>/<hex>/link` (or `<alg>/<hex>`) relative to a listing prefix → `alg:hex`, else `null`. */
export function digestOfRelative(relative: string, suffix: string): string | null {
  if (!relative.endsWith(suffix)) return null;
  const parts = relative.slice(0, relative.length - suffix.length).split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
  return `${parts[0]}:${parts[1]}`;
}
