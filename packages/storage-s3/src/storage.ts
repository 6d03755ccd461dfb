import { S3BlobStore } from './blob-store.js';
import { FactCache } from './cache/facts.js';
import { DeletionNotices, noticeSettings } from './cache/notices.js';
import type { S3Storage, S3StorageOptions } from './index.js';
import { Keys } from './keys.js';
import { S3MetadataStore } from './metadata-store.js';
import type { ObjectStore } from './objects/types.js';
import { S3UploadStore } from './upload-store.js';
import { KeyedLock } from './util.js';
import { BufferPool, MIN_PART_SIZE } from './writer.js';

/** Parts of one streaming write uploading at once: two keep the link to the server busy. */
const PARTS_IN_FLIGHT = 2;
/** How long a check for deletions lets the cache answer (see `cache/notices.ts`). */
const DEFAULT_LEASE = 2000;

/** What {@link storageOn} takes: the options of `createS3Storage` apart from the client. */
export type StorageSettings = Omit<S3StorageOptions, 'client' | 'bucket' | 'signedRequests'>;

/** The three stores on an object store (a real client's, or the in-memory one in tests). */
export function storageOn(store: ObjectStore, options: StorageSettings = {}): S3Storage {
  const minPartSize = options.minPartSize ?? MIN_PART_SIZE;
  const partSize = Math.max(options.partSize ?? 8 * 1024 * 1024, minPartSize);
  const maxParts = options.maxParts ?? 10_000;
  const concurrency = Math.max(1, options.concurrency ?? 8);
  if (!Number.isSafeInteger(partSize) || !Number.isSafeInteger(minPartSize) || minPartSize < 1)
    throw new TypeError('createS3Storage: part sizes must be positive integers');
  if (!Number.isSafeInteger(maxParts) || maxParts < 2)
    throw new TypeError('createS3Storage: maxParts must be at least 2');

  const keys = new Keys(options.prefix ?? '');
  const { redirect } = options;
  const buffers = new BufferPool(partSize);
  const completions = new KeyedLock();
  const cache = options.cache ?? true;
  const facts = new FactCache(
    cache === false
      ? undefined
      : new DeletionNotices(
          store,
          keys.deletionNotices,
          noticeSettings((typeof cache === 'object' ? cache.lease : undefined) ?? DEFAULT_LEASE),
        ),
    typeof cache === 'object' ? cache.entries : undefined,
  );
  const blobs = new S3BlobStore(store, keys, {
    buffers,
    partsInFlight: PARTS_IN_FLIGHT,
    completions,
    redirect: redirect ? { expiresIn: typeof redirect === 'object' ? redirect.expiresIn : undefined } : false,
    facts,
  });
  const uploads = new S3UploadStore(store, keys, {
    buffers,
    minPartSize,
    maxParts,
    concurrency,
    conditionalWrites: options.conditionalWrites ?? 'auto',
    partsInFlight: PARTS_IN_FLIGHT,
    completions,
    facts,
  });
  const metadata = new S3MetadataStore(store, keys, { facts, tagCacheTtl: options.tagCacheTtl ?? 0 });
  return {
    blobs,
    uploads,
    metadata,
    async close() {
      uploads.clear();
      await facts.close();
    },
  };
}
