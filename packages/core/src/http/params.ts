import { RegistryError } from '../errors.js';
import { type ParsedDigest, parseDigest } from '../oci/digest.js';
import { assertTag, isRepositoryName, isTag } from '../oci/names.js';
import type { ManifestReference } from './route.js';

/**
 * Decodes one path segment, or `undefined` when it is not valid percent-encoded UTF-8 (overlong
 * forms such as `%c0%af` included) or decodes to a control character. A decoded segment may still
 * contain `/` (from `%2f`): callers check it against their own grammar.
 */
function decodeSegment(raw: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  return /[\u0000-\u001f\u007f]/.test(decoded) ? undefined : decoded;
}

/**
 * The repository name of a request path, taken exactly as sent: the spec's name grammar has only
 * unreserved characters, which clients never escape, so any escape (`%2f`, `%252f`, `..%2f`, `%00`,
 * an overlong UTF-8 `/`, even `%61`) is `NAME_INVALID` (400). Never decoding a name means a proxy
 * that authorises on the raw path and wharf always agree on the repository a request names.
 */
export function parseRepositoryPath(raw: string): string {
  if (!isRepositoryName(raw))
    throw new RegistryError('NAME_INVALID', { detail: { name: raw.slice(0, 512) } });
  return raw;
}

/**
 * Decodes a single-segment parameter (a reference, digest or upload id). What cannot be decoded is
 * returned raw: its `%` then fails every grammar it is checked against, with that grammar's error.
 */
function decodeParameter(raw: string): string {
  return decodeSegment(raw) ?? raw;
}

/**
 * A manifest reference: anything with a colon is a digest and must be a valid one
 * (`DIGEST_INVALID`). A tag outside the spec's grammar cannot be written (`MANIFEST_INVALID`, for
 * a PUT) and names nothing (`MANIFEST_UNKNOWN`, for reads and deletes).
 */
export function parseManifestReference(raw: string, write: boolean): ManifestReference {
  const reference = decodeParameter(raw);
  if (reference.includes(':')) return { kind: 'digest', digest: parseDigest(reference) };
  if (write) return { kind: 'tag', tag: assertTag(reference) };
  if (!isTag(reference)) {
    throw new RegistryError('MANIFEST_UNKNOWN', { detail: { reference: reference.slice(0, 256) } });
  }
  return { kind: 'tag', tag: reference };
}

/** A digest from a path segment (`DIGEST_INVALID` unless valid and of a supported algorithm). */
export function parseDigestParameter(raw: string): ParsedDigest {
  return parseDigest(decodeParameter(raw));
}

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An upload session id: a UUID as core issues them, or `BLOB_UPLOAD_UNKNOWN`. */
export function parseUploadId(raw: string): string {
  const id = decodeParameter(raw);
  if (!UPLOAD_ID.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
  return id;
}
