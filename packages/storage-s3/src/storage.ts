import { S3BlobStore } from './blob-store.js';
import { FactCache } from './cache/facts.js';
import { DeletionNotices, noticeSettings } from './cache/notices.js';
import type { S3Storage } from './index.js';
import { Keys } from './keys.js';
import { S3MetadataStore } from './metadata-store.js';
import type { ObjectStore } from './objects/types.js';
import { type ResolvedS3Options, resolveSettings, type StorageSettings } from './options.js';
import { S3EventStore } from './outbox.js';
import { S3UploadStore } from './upload-store.js';
import { KeyedLock } from './util.js';
import { BufferPool } from './writer.js';

export type { StorageSettings } from './options.js';

/** Parts of one streaming write uploading at once: two keep the link to the server busy. */
const PARTS_IN_FLIGHT = 2;

/** The three stores on an object store (the in-memory one in tests), from settings to check. */
export function storageOn(store: ObjectStore, settings: StorageSettings = {}): S3Storage {
  return assemble(store, resolveSettings(settings));
}

/** The three stores on an object store, from checked options. */
export function assemble(store: ObjectStore, settings: ResolvedS3Options): S3Storage {
  const { minPartSize, partSize, maxParts, concurrency, redirect, cache } = settings;
  const keys = new Keys(settings.prefix);
  const buffers = new BufferPool(partSize);
  const completions = new KeyedLock();
  const facts = new FactCache(
    cache === false
      ? undefined
      : new DeletionNotices(store, keys.deletionNotices, noticeSettings(cache.lease)),
    cache === false ? undefined : cache.entries,
  );
  const blobs = new S3BlobStore(store, keys, {
    buffers,
    partsInFlight: PARTS_IN_FLIGHT,
    completions,
    redirect,
    facts,
    reads: settings.reads,
  });
  const uploads = new S3UploadStore(store, keys, {
    buffers,
    minPartSize,
    maxParts,
    concurrency,
    conditionalWrites: settings.conditionalWrites,
    partsInFlight: PARTS_IN_FLIGHT,
    completions,
    facts,
  });
  const metadata = new S3MetadataStore(store, keys, { facts, tagCacheTtl: settings.tagCacheTtl });
  return {
    blobs,
    uploads,
    metadata,
    events: new S3EventStore(store, keys.root, settings.conditionalWrites !== false),
    async close() {
      await uploads.close();
      await facts.close();
    },
  };
}
