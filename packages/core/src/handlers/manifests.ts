import type { RegistryContext } from '../context.js';
import { RegistryError } from '../errors.js';
import { eventArtifactType } from '../events/artifact.js';
import { digestOf } from '../hashing/hasher.js';
import { readBody } from '../http/body.js';
import { emptyResponse } from '../http/response.js';
import type { ManifestReference, RouteCallOf, RouteParams } from '../http/route.js';
import type { RegistryRequest, RegistryResponse } from '../http/types.js';
import { tryParseDigest } from '../oci/digest.js';
import {
  manifestSubject,
  type ParsedManifest,
  parseManifest,
  referrerDescriptor,
  sniffManifestMediaType,
} from '../oci/manifest.js';
import { assertTag } from '../oci/names.js';
import { readManifestBytes, tagTargets, touchBlob } from '../stores/helpers.js';

/** A reference as the client wrote it: the tag, or the digest. */
function referenceText(reference: ManifestReference): string {
  return reference.kind === 'tag' ? reference.tag : reference.digest.digest;
}

function manifestUnknown(reference: ManifestReference): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', { detail: { reference: referenceText(reference) } });
}

/** A stored manifest of a repository: its digest, media type and exact bytes. */
export interface StoredManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
}

/** Loads a manifest revision of a repository, or `null` (also when its bytes are missing). */
export async function loadManifest(
  ctx: RegistryContext,
  name: string,
  digest: string,
): Promise<StoredManifest | null> {
  const cached = ctx.manifestBytes.get(digest);
  const [record, bytes] = await Promise.all([
    ctx.storage.metadata.getManifest(name, digest),
    cached ?? readManifestBytes(ctx.storage.blobs, digest, ctx.limits.manifestMaxBytes),
  ]);
  if (!record || !bytes) return null;
  if (!cached) ctx.manifestBytes.set(digest, bytes);
  return { digest, mediaType: record.mediaType ?? sniffManifestMediaType(bytes), bytes };
}

/** Resolves a tag or digest to a digest the repository has, or `MANIFEST_UNKNOWN`. */
async function resolve(ctx: RegistryContext, name: string, reference: ManifestReference): Promise<string> {
  if (reference.kind === 'digest') return reference.digest.digest;
  const digest = await ctx.storage.metadata.getTag(name, reference.tag);
  if (!digest || !tryParseDigest(digest)) throw manifestUnknown(reference);
  return digest;
}

/** Whether an `If-None-Match` / `If-Match` list names the entity tag. */
function matchesEntityTag(header: string, etag: string): boolean {
  return header
    .split(',')
    .map((value) => value.trim().replace(/^W\//, ''))
    .some((value) => value === '*' || value === etag);
}

/** GET / HEAD `/v2/<name>/manifests/<reference>`. */
export async function getManifest(
  ctx: RegistryContext,
  call: RouteCallOf<'manifest'>,
): Promise<RegistryResponse> {
  const { request } = call;
  const { repository: name, reference } = call.params;
  const digest = await resolve(ctx, name, reference);
  const manifest = await loadManifest(ctx, name, digest);
  if (!manifest) throw manifestUnknown(reference);
  const etag = `"${digest}"`;
  const headers: Record<string, string> = {
    'Content-Type': manifest.mediaType,
    'Docker-Content-Digest': digest,
    ETag: etag,
    'Content-Length': String(manifest.bytes.byteLength),
  };
  const ifNoneMatch = request.headers.get('if-none-match');
  if (ifNoneMatch && matchesEntityTag(ifNoneMatch, etag)) {
    return { status: 304, headers: { 'Docker-Content-Digest': digest, ETag: etag }, body: null };
  }
  if (call.head) return { status: 200, headers, body: null };
  ctx.emit({ type: 'manifest.pulled', repository: name, digest, reference: referenceText(reference) });
  return { status: 200, headers, body: manifest.bytes };
}

/** The blobs a manifest references that must have been pushed (foreign layers live at their URLs). */
function pushedBlobs(manifest: ParsedManifest): string[] {
  return manifest.blobs.filter((d) => !(d.urls && d.urls.length > 0)).map((d) => d.digest);
}

/**
 * The references of a manifest that are missing: blobs not linked into the repository or not
 * stored, child manifests the repository lacks. With `claim`, every present item is also marked as
 * just used (blobs touched, links and child revisions rewritten), so that a garbage collection that
 * selected any of them before this push refuses to delete it; the touch is then the existence check.
 */
async function missingReferences(
  ctx: RegistryContext,
  name: string,
  manifest: ParsedManifest,
  claim: boolean,
): Promise<string[]> {
  const { metadata, blobs } = ctx.storage;
  const results = await Promise.all([
    ...pushedBlobs(manifest).map(async (digest) => {
      if (!tryParseDigest(digest)) return digest;
      const [linked, present] = await Promise.all([
        metadata.hasBlobLink(name, digest),
        claim ? touchBlob(blobs, digest) : blobs.stat(digest).then((info) => info !== null),
      ]);
      if (!linked || !present) return digest;
      if (claim) await metadata.linkBlob(name, digest);
      return null;
    }),
    ...manifest.manifests.map(async ({ digest }) => {
      if (!tryParseDigest(digest)) return digest;
      const record = await metadata.getManifest(name, digest);
      if (!record) return digest;
      if (claim) {
        if (!(await touchBlob(blobs, digest))) return digest;
        if (record.mediaType) await metadata.putManifest(name, { digest, mediaType: record.mediaType });
      }
      return null;
    }),
  ]);
  return [...new Set(results.filter((digest): digest is string => digest !== null))];
}

function blobUnknown(missing: string[]): RegistryError {
  return new RegistryError('MANIFEST_BLOB_UNKNOWN', { detail: { digests: missing } });
}

/** Parses the tags named by `?tag=` on a manifest push by digest (ignored by tag, or when turned off). */
export function manifestPushQuery(
  query: URLSearchParams,
  ctx: RegistryContext,
  params: RouteParams['manifest'],
): string[] {
  if (!ctx.features.tagsOnPush || params.reference.kind !== 'digest') return [];
  const tags = [...new Set(query.getAll('tag'))];
  if (tags.length > ctx.limits.tagsPerPush) {
    throw new RegistryError('UNSUPPORTED', {
      status: 414,
      message: `at most ${ctx.limits.tagsPerPush} tags per request`,
    });
  }
  return tags.map(assertTag);
}

/** Applies `If-Match` / `If-None-Match` to the tag being pushed (412 when the tag moved). */
async function checkTagPreconditions(
  ctx: RegistryContext,
  request: RegistryRequest,
  name: string,
  tag: string,
): Promise<void> {
  const ifMatch = request.headers.get('if-match');
  const ifNoneMatch = request.headers.get('if-none-match');
  if (!ctx.features.conditionalTagUpdates || (!ifMatch && !ifNoneMatch)) return;
  const current = await ctx.storage.metadata.getTag(name, tag);
  const etag = current ? `"${current}"` : undefined;
  const failed =
    (ifMatch && (!etag || !matchesEntityTag(ifMatch, etag))) ||
    (ifNoneMatch && etag && matchesEntityTag(ifNoneMatch, etag));
  if (failed) {
    throw new RegistryError('MANIFEST_INVALID', {
      status: 412,
      message: 'precondition failed: the tag does not match',
      detail: { tag, current: current ?? null },
    });
  }
}

/** PUT `/v2/<name>/manifests/<reference>`; `extraTags` come from `?tag=`. */
export async function putManifest(
  ctx: RegistryContext,
  call: RouteCallOf<'manifest'>,
  extraTags: readonly string[],
): Promise<RegistryResponse> {
  const { request } = call;
  const { repository: name, reference: ref } = call.params;

  const limit = ctx.limits.manifestMaxBytes;
  const bytes = await readBody(
    request,
    limit,
    () =>
      new RegistryError('SIZE_INVALID', {
        status: 413,
        message: `manifest exceeds ${limit} bytes`,
        detail: { limit },
      }),
  );
  const digest = await digestOf(ref.kind === 'digest' ? ref.digest.algorithm : 'sha256', bytes);
  if (ref.kind === 'digest' && digest !== ref.digest.digest) {
    throw new RegistryError('DIGEST_INVALID', { detail: { expected: ref.digest.digest, computed: digest } });
  }
  const manifest = parseManifest(bytes, request.headers.get('content-type') ?? '');
  const verify = !ctx.features.sparseManifests;
  if (verify) {
    const missing = await missingReferences(ctx, name, manifest, true);
    if (missing.length > 0) throw blobUnknown(missing);
  }
  const tags = ref.kind === 'tag' ? [ref.tag, ...extraTags.filter((t) => t !== ref.tag)] : extraTags;
  if (ref.kind === 'tag') await checkTagPreconditions(ctx, request, name, ref.tag);

  // Rule 6: bytes, then the revision, then the referrers entry, then tags.
  const { blobs, metadata } = ctx.storage;
  const existing = await blobs.stat(digest);
  if (existing?.size !== bytes.byteLength) {
    await blobs.put(
      digest,
      (async function* () {
        yield bytes;
      })(),
      { size: bytes.byteLength },
    );
  } else {
    await blobs.touch?.(digest);
  }
  await metadata.putManifest(name, { digest, mediaType: manifest.mediaType });
  const subject = manifest.subject ? tryParseDigest(manifest.subject.digest) : undefined;
  if (subject)
    await metadata.putReferrer(name, subject.digest, referrerDescriptor(manifest, digest, bytes.byteLength));
  const previous = await Promise.all(tags.map((tag) => metadata.getTag(name, tag)));
  for (const tag of tags) await metadata.putTag(name, tag, digest);
  if (verify) {
    // A garbage collection elsewhere may have swept a reference between the check and the tag
    // writes: never leave a tag on an incomplete image.
    const missing = await missingReferences(ctx, name, manifest, false);
    if (missing.length > 0) {
      await Promise.all(
        tags.map((tag, i) =>
          previous[i] ? metadata.putTag(name, tag, previous[i]) : metadata.deleteTag(name, tag),
        ),
      );
      throw blobUnknown(missing);
    }
  }

  const headers: Record<string, string | string[]> = {
    Location: `/v2/${name}/manifests/${digest}`,
    'Docker-Content-Digest': digest,
  };
  if (subject && ctx.features.referrers) headers['OCI-Subject'] = subject.digest;
  if (extraTags.length > 0) headers['OCI-Tag'] = [...extraTags];
  const artifactType = eventArtifactType(manifest);
  ctx.emit({
    type: 'manifest.pushed',
    repository: name,
    digest,
    mediaType: manifest.mediaType,
    size: bytes.byteLength,
    tags,
    subject: subject?.digest,
    ...(artifactType === undefined ? {} : { artifactType }),
  });
  return emptyResponse(201, headers);
}

/** DELETE `/v2/<name>/manifests/<reference>`: a tag, or a manifest with every tag pointing at it. */
export async function deleteManifest(
  ctx: RegistryContext,
  call: RouteCallOf<'manifest'>,
): Promise<RegistryResponse> {
  const { repository: name, reference: ref } = call.params;
  const { metadata } = ctx.storage;
  if (ref.kind === 'tag') {
    const digest = await metadata.getTag(name, ref.tag);
    if (!digest || !(await metadata.deleteTag(name, ref.tag))) throw manifestUnknown(ref);
    ctx.emit({ type: 'tag.deleted', repository: name, tag: ref.tag, digest });
    return emptyResponse(202);
  }

  const digest = ref.digest.digest;
  const manifest = await loadManifest(ctx, name, digest);
  if (!manifest) throw manifestUnknown(ref);
  // Rule 6 in reverse: drop what points at the revision before the revision itself.
  for (const tag of await tagsPointingAt(ctx, name, digest)) {
    if (await metadata.deleteTag(name, tag)) ctx.emit({ type: 'tag.deleted', repository: name, tag, digest });
  }
  const subject = manifestSubject(manifest.bytes);
  if (subject) await metadata.deleteReferrer(name, subject, digest);
  await metadata.deleteManifest(name, digest);
  ctx.emit({ type: 'manifest.deleted', repository: name, digest });
  return emptyResponse(202);
}

/** Every tag of the repository that points at `digest`. */
async function tagsPointingAt(ctx: RegistryContext, name: string, digest: string): Promise<string[]> {
  const tags = await tagTargets(ctx.storage.metadata, name);
  return tags.filter(([, target]) => target === digest).map(([tag]) => tag);
}
