import type { Clock } from '../../clock.js';
import type { RegistryStorage } from '../types.js';
import { MemoryBlobStore } from './blob-store.js';
import { MemoryEventStore } from './event-store.js';
import { MemoryMetadataStore } from './metadata-store.js';
import { MemoryUploadStore } from './upload-store.js';

export { MemoryBlobStore } from './blob-store.js';
export { MemoryEventStore } from './event-store.js';
export { MemoryMetadataStore } from './metadata-store.js';
export { MemoryUploadStore } from './upload-store.js';

/** Options of the in-memory stores. */
export interface MemoryStoreOptions {
  /** Where modification and creation times come from. Default: the system clock. */
  readonly clock?: Clock;
}

/**
 * Every store in process memory, the event outbox included. Two registries created over the same
 * object share everything, like replicas over one bucket.
 */
export function createMemoryStorage(options: MemoryStoreOptions = {}): RegistryStorage {
  const blobs = new MemoryBlobStore(options);
  return {
    blobs,
    uploads: new MemoryUploadStore(blobs, options),
    metadata: new MemoryMetadataStore(options),
    events: new MemoryEventStore(),
  };
}
