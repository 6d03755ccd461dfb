import { createHasher, createResumableHasher, type Hasher, type ResumableHasher } from '../hashing/hasher.js';
import { type DigestAlgorithm, isDigestAlgorithm } from '../oci/digest.js';
import type { UploadSession, UploadStore } from '../stores/types.js';

/** The session's algorithm, falling back to sha256 for a record this build cannot read. */
export function sessionAlgorithm(session: UploadSession): DigestAlgorithm {
  return isDigestAlgorithm(session.algorithm) ? session.algorithm : 'sha256';
}

/**
 * A resumable hasher positioned at the end of the session's staged bytes: the saved state when it
 * covers them (the normal case, no re-read), otherwise the saved state plus a re-hash of the gap a
 * crash left between an append and its state save.
 */
export async function resumeHasher(
  uploads: UploadStore,
  session: UploadSession,
  algorithm: DigestAlgorithm,
  signal?: AbortSignal,
): Promise<ResumableHasher> {
  const saved = session.hashState;
  const usable = saved && saved.algorithm === algorithm && saved.offset <= session.size ? saved : null;
  const hasher = await createResumableHasher(algorithm, usable?.state);
  await feedStaged(uploads, session, usable?.offset ?? 0, hasher, signal);
  return hasher;
}

/**
 * The digest of the staged bytes under an algorithm the session was not hashed with (the client
 * chose it only at the final PUT): the one case where the staged bytes are read back.
 */
export async function digestStaged(
  uploads: UploadStore,
  session: UploadSession,
  algorithm: DigestAlgorithm,
  signal?: AbortSignal,
): Promise<string> {
  const hasher = await createHasher(algorithm);
  await feedStaged(uploads, session, 0, hasher, signal);
  return hasher.digest();
}

async function feedStaged(
  uploads: UploadStore,
  session: UploadSession,
  from: number,
  hasher: Hasher,
  signal?: AbortSignal,
): Promise<void> {
  if (from >= session.size) return;
  for await (const chunk of uploads.read(session.id, { offset: from, length: session.size - from }, signal)) {
    hasher.update(chunk);
  }
}
