import { randomUUID } from 'node:crypto';
import type { RegistryContext } from '../context.js';
import {
  isRegistryError,
  RegistryError,
  toRegistryError,
  uploadOffsetError,
  uploadRange,
} from '../errors.js';
import { createHasher } from '../hashing/hasher.js';
import { contentLength, drainBody, meterBody } from '../http/body.js';
import { parseChunkRange } from '../http/range.js';
import { emptyResponse } from '../http/response.js';
import type { RouteCallOf } from '../http/route.js';
import type { RegistryRequest, RegistryResponse } from '../http/types.js';
import type { ParsedDigest } from '../oci/digest.js';
import { touchBlob } from '../stores/helpers.js';
import type { UploadSession } from '../stores/types.js';
import { type ChunkHasher, chunkHasher, stagedDigest } from '../uploads/hashing.js';
import type { StartUploadQuery } from './upload-query.js';

function uploadLocation(name: string, id: string): string {
  return `/v2/${name}/blobs/uploads/${id}`;
}

function blobLocation(name: string, digest: string): string {
  return `/v2/${name}/blobs/${digest}`;
}

function sessionHeaders(name: string, id: string, size: number): Record<string, string> {
  return { Location: uploadLocation(name, id), Range: uploadRange(size), 'Docker-Upload-UUID': id };
}

function unknownUpload(): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN');
}

function digestMismatch(expected: string): RegistryError {
  return new RegistryError('DIGEST_INVALID', { detail: { digest: expected } });
}

function tooLarge(what: string): () => RegistryError {
  return () =>
    new RegistryError('SIZE_INVALID', { status: 413, message: `${what} exceeds the configured limit` });
}

/** Adds the session's location to a 416 (which carries the current `Range`), so the client can resume. */
function withResumeHeaders(thrown: unknown, name: string, id: string): unknown {
  const error = toRegistryError(thrown);
  if (error.status === 416) {
    Object.assign(error.headers, { Location: uploadLocation(name, id), 'Docker-Upload-UUID': id });
  }
  return error;
}

/** The session a URL names, or `BLOB_UPLOAD_UNKNOWN` (also for another repository's session). */
async function loadSession(ctx: RegistryContext, name: string, id: string): Promise<UploadSession> {
  const session = await ctx.storage.uploads.get(id);
  if (!session || session.repository !== name) throw unknownUpload();
  return session;
}

function signalOption(request: RegistryRequest): { signal?: AbortSignal } {
  return request.signal ? { signal: request.signal } : {};
}

/**
 * Stores a blob sent in one request (`POST ?digest=` or the PUT of an empty session), hashing
 * with `node:crypto` as it streams: the store sees an error instead of the end of the body when the
 * digest or length is wrong, so nothing is kept. A blob that already exists is verified, not rewritten.
 */
async function storeWholeBlob(
  ctx: RegistryContext,
  request: RegistryRequest,
  parsed: ParsedDigest,
  declared: number | undefined,
): Promise<number> {
  const { blobMaxBytes } = ctx.limits;
  if (declared !== undefined && declared > blobMaxBytes) throw tooLarge('blob')();
  const hasher = await createHasher(parsed.algorithm);
  const body = meterBody(request.body, {
    ...(declared === undefined ? {} : { expectedLength: declared }),
    maxLength: blobMaxBytes,
    tooLarge: tooLarge('blob'),
    onData: (chunk) => hasher.update(chunk),
    verify: () => {
      if (hasher.digest() !== parsed.digest) throw digestMismatch(parsed.digest);
    },
  });
  if (await ctx.storage.blobs.stat(parsed.digest)) {
    for await (const _ of body) {
      // verified while streaming; the stored copy is kept
    }
    // Reused, not rewritten: tell a concurrent garbage collection it is in use.
    await ctx.storage.blobs.touch?.(parsed.digest);
  } else {
    await ctx.storage.blobs.put(parsed.digest, body, {
      ...(declared === undefined ? {} : { size: declared }),
      ...signalOption(request),
    });
  }
  return body.length;
}

/** Links a blob that now exists into the repository and answers 201. */
async function blobCreated(
  ctx: RegistryContext,
  name: string,
  digest: string,
  size: number,
): Promise<RegistryResponse> {
  await ctx.storage.metadata.linkBlob(name, digest);
  ctx.emit({ type: 'blob.pushed', repository: name, digest, size });
  return emptyResponse(201, { Location: blobLocation(name, digest), 'Docker-Content-Digest': digest });
}

/** Tries a cross-repository (or automatic) mount; false means "fall back to an upload". */
async function tryMount(
  ctx: RegistryContext,
  request: RegistryRequest,
  name: string,
  { digest, from }: NonNullable<StartUploadQuery['mount']>,
): Promise<boolean> {
  if (from !== undefined) {
    if (!ctx.features.mount) return false;
    // Without pull access to the source the mount silently becomes an upload: nothing leaks.
    if (!(await ctx.allows(request, 'pull', from, 'mount'))) return false;
    if (!(await ctx.storage.metadata.hasBlobLink(from, digest))) return false;
  } else if (!ctx.features.automaticMount || ctx.guarded) {
    // Under access control a from-less mount would reveal that a blob exists somewhere the caller
    // may not look: it becomes a plain upload.
    return false;
  }
  const { blobs } = ctx.storage;
  if (!(await touchBlob(blobs, digest))) return false;
  await ctx.storage.metadata.linkBlob(name, digest);
  ctx.emit({ type: 'blob.mounted', repository: name, digest, from });
  return true;
}

/** POST `/v2/<name>/blobs/uploads/`: mount, single-request upload, or a new session. */
export async function startUpload(
  ctx: RegistryContext,
  call: RouteCallOf<'blob-upload'>,
  { mount, digest, algorithm }: StartUploadQuery,
): Promise<RegistryResponse> {
  const { request } = call;
  const name = call.params.repository;
  if (mount && (await tryMount(ctx, request, name, mount))) {
    return emptyResponse(201, {
      Location: blobLocation(name, mount.digest),
      'Docker-Content-Digest': mount.digest,
    });
  }
  if (digest && !mount && ctx.features.monolithicPost) {
    const size = await storeWholeBlob(ctx, request, digest, contentLength(request));
    return blobCreated(ctx, name, digest.digest, size);
  }
  // A body here is not part of any upload (a client that expected a single-POST upload resends it).
  await drainBody(request);
  const id = randomUUID();
  await ctx.storage.uploads.create({ id, repository: name, algorithm });
  const headers = sessionHeaders(name, id, 0);
  if (ctx.limits.chunkMinLength > 0) headers['OCI-Chunk-Min-Length'] = String(ctx.limits.chunkMinLength);
  return emptyResponse(202, headers);
}

/** The length a chunk request declares (Content-Range span or Content-Length), checked for consistency. */
function declaredChunk(request: RegistryRequest, session: UploadSession): number | undefined {
  const range = parseChunkRange(request.headers.get('content-range'));
  const declared = contentLength(request);
  if (!range) return declared;
  if (range.start !== session.size) throw uploadOffsetError(session.size);
  const span = range.end - range.start + 1;
  if (declared !== undefined && declared !== span) {
    throw new RegistryError('SIZE_INVALID', {
      message: 'Content-Length does not match Content-Range',
      detail: { contentLength: declared, contentRange: span },
    });
  }
  return span;
}

/**
 * Appends a request body to a session, hashing it as it streams and saving the hash state after
 * the chunk is staged (docs/architecture.md, upload rule 2). The store claims the offset
 * atomically, so a stale writer gets 416.
 */
async function appendChunk(
  ctx: RegistryContext,
  request: RegistryRequest,
  session: UploadSession,
  expected: number | undefined,
): Promise<{ session: UploadSession; hasher: ChunkHasher }> {
  const { chunkMaxLength, blobMaxBytes } = ctx.limits;
  const room = blobMaxBytes - session.size;
  if (expected !== undefined && expected > chunkMaxLength) throw tooLarge('chunk')();
  if (expected !== undefined && expected > room) throw tooLarge('blob')();
  const hasher = await chunkHasher(ctx.storage.uploads, ctx.liveHashers, session, request.signal);
  const body = meterBody(request.body, {
    ...(expected === undefined ? {} : { expectedLength: expected }),
    maxLength: Math.min(chunkMaxLength, room),
    tooLarge: tooLarge(chunkMaxLength < room ? 'chunk' : 'blob'),
    onData: (chunk) => hasher.update(chunk),
  });
  const updated = await ctx.storage.uploads.append(session.id, {
    offset: session.size,
    body,
    ...(expected === undefined ? {} : { length: expected }),
    ...signalOption(request),
  });
  if (updated.size !== session.size) {
    await ctx.storage.uploads.saveHashState(session.id, hasher.stateAt(updated.size));
    hasher.retain(session.id, updated.size);
  }
  return { session: updated, hasher };
}

/** PATCH `<location>`: one chunk, with or without `Content-Range`. */
export async function patchUpload(
  ctx: RegistryContext,
  call: RouteCallOf<'blob-upload-chunk'>,
): Promise<RegistryResponse> {
  const { repository: name, uploadId: id } = call.params;
  try {
    const session = await loadSession(ctx, name, id);
    const { session: updated } = await appendChunk(
      ctx,
      call.request,
      session,
      declaredChunk(call.request, session),
    );
    return emptyResponse(202, sessionHeaders(name, id, updated.size));
  } catch (error) {
    throw withResumeHeaders(error, name, id);
  }
}

/** PUT `<location>?digest=`: optional final chunk, verification, commit. */
export async function completeUpload(
  ctx: RegistryContext,
  call: RouteCallOf<'blob-upload-chunk'>,
  parsed: ParsedDigest,
): Promise<RegistryResponse> {
  const { request } = call;
  const { repository: name, uploadId: id } = call.params;
  try {
    let session = await loadSession(ctx, name, id);
    const hasRange = Boolean(request.headers.get('content-range'));
    const expected = declaredChunk(request, session);
    const hasBody = expected !== undefined ? expected > 0 : request.body !== null;

    if (session.size === 0 && hasBody && !hasRange) {
      // POST-then-PUT monolithic upload: no state needs to outlive this request.
      let size: number;
      try {
        size = await storeWholeBlob(ctx, request, parsed, expected);
      } catch (error) {
        if (isRegistryError(error) && error.code === 'DIGEST_INVALID') await ctx.storage.uploads.delete(id);
        throw error;
      }
      await ctx.storage.uploads.delete(id);
      return blobCreated(ctx, name, parsed.digest, size);
    }

    let hasher: ChunkHasher | undefined;
    if (hasBody) ({ session, hasher } = await appendChunk(ctx, request, session, expected));
    const computed =
      hasher && hasher.algorithm === parsed.algorithm
        ? hasher.digest()
        : await stagedDigest(ctx.storage.uploads, ctx.liveHashers, session, parsed.algorithm, request.signal);
    if (computed !== parsed.digest) {
      // A failed verification ends the session and frees its staged data.
      await ctx.storage.uploads.delete(id);
      throw digestMismatch(parsed.digest);
    }
    // Clients pushing the same layer at once commit it once; the others find it stored.
    await ctx.commits.run(parsed.digest, () =>
      ctx.storage.uploads.commit(id, {
        digest: parsed.digest,
        size: session.size,
        ...signalOption(request),
      }),
    );
    return await blobCreated(ctx, name, parsed.digest, session.size);
  } catch (error) {
    throw withResumeHeaders(error, name, id);
  }
}

/** GET `<location>`: the session's progress (204). */
export async function uploadStatus(
  ctx: RegistryContext,
  call: RouteCallOf<'blob-upload-chunk'>,
): Promise<RegistryResponse> {
  const { repository: name, uploadId: id } = call.params;
  const session = await loadSession(ctx, name, id);
  return emptyResponse(204, sessionHeaders(name, id, session.size));
}

/** DELETE `<location>`: cancels the session and frees its staged data (204). */
export async function cancelUpload(
  ctx: RegistryContext,
  call: RouteCallOf<'blob-upload-chunk'>,
): Promise<RegistryResponse> {
  const { repository: name, uploadId: id } = call.params;
  await loadSession(ctx, name, id);
  ctx.liveHashers.forget(id);
  if (!(await ctx.storage.uploads.delete(id))) throw unknownUpload();
  return emptyResponse(204);
}
