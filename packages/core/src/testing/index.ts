/**
 * `@wharf/core/testing`: the store conformance suite. Every storage backend runs it to prove it
 * honours the BlobStore, UploadStore, MetadataStore and EventStore contracts that core relies on.
 *
 * @example
 * ```ts
 * // my-backend.test.ts
 * import { defineStoreConformanceSuite } from '@wharf/core/testing';
 *
 * defineStoreConformanceSuite({
 *   name: 'my backend',
 *   create: async () => {
 *     const storage = await createMyStorage();
 *     return { storage, cleanup: () => storage.close() };
 *   },
 * });
 * ```
 *
 * @packageDocumentation
 */
import { describe } from 'vitest';
import { blobStoreTests } from './blob-store.js';
import { eventStoreTests } from './event-store.js';
import type { StoreConformanceOptions, StoreHarness } from './harness.js';
import { metadataStoreTests } from './metadata-store.js';
import { uploadStoreTests } from './upload-store.js';

export { defineGcSuite, type GcSuiteOptions, withLatency } from './gc.js';
export type { StoreConformanceOptions, StoreHarness } from './harness.js';
export { defineOciConformanceSuite, type OciConformanceOptions } from './oci/index.js';

/** Registers the store conformance tests (vitest) for one backend. */
export function defineStoreConformanceSuite(options: StoreConformanceOptions): void {
  const use =
    (body: (h: StoreHarness) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const harness = await options.create();
      try {
        await body(harness);
      } finally {
        await harness.cleanup?.();
      }
    };
  describe(`store conformance: ${options.name}`, { timeout: options.timeout ?? 60_000 }, () => {
    blobStoreTests(use);
    uploadStoreTests(use, options.largeUploadSize ?? 12 * 1024 * 1024);
    metadataStoreTests(use);
    if (options.eventStore ?? true) eventStoreTests(use);
    else describe.skip('EventStore (the backend has none)', () => eventStoreTests(use));
  });
}
