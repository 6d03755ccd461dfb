import { collectBytes } from '../util/bytes.js';
import type { BlobStore, MetadataStore } from './types.js';

/**
 * Marks a blob as just used where the store supports it ({@link BlobStore.touch}), else only
 * checks it exists. Resolves whether the blob exists.
 */
export async function touchBlob(blobs: BlobStore, digest: string): Promise<boolean> {
  return blobs.touch ? blobs.touch(digest) : (await blobs.stat(digest)) !== null;
}

/** Never refuse to read a stored manifest below this size, whatever the configured limit. */
const STORED_MANIFEST_FLOOR = 64 * 1024 * 1024;

/**
 * A stored manifest's bytes, or `null` when the blob is missing. Stored manifests passed
 * `maxBytes` when pushed; the cap only guards against foreign trees (a root another registry wrote).
 */
export async function readManifestBytes(
  blobs: BlobStore,
  digest: string,
  maxBytes: number,
): Promise<Buffer | null> {
  const stream = await blobs.open(digest);
  if (!stream) return null;
  return collectBytes(stream, Math.max(maxBytes, STORED_MANIFEST_FLOOR));
}

/** Tags are listed in pages of this many. */
const TAG_PAGE = 1000;

/**
 * Every tag of a repository with the digest it points at (`null` for a tag removed meanwhile, or
 * whatever its link holds), read page by page.
 */
export async function tagTargets(
  metadata: MetadataStore,
  name: string,
): Promise<Array<readonly [tag: string, digest: string | null]>> {
  const entries: Array<readonly [string, string | null]> = [];
  let after: string | undefined;
  for (;;) {
    const page = await metadata.listTags(name, {
      ...(after === undefined ? {} : { after }),
      limit: TAG_PAGE,
    });
    const digests = await Promise.all(page.map((tag) => metadata.getTag(name, tag)));
    page.forEach((tag, i) => {
      entries.push([tag, digests[i] ?? null]);
    });
    if (page.length < TAG_PAGE) return entries;
    after = page[page.length - 1];
  }
}
