/**
 * The store conformance, garbage collection and OCI conformance suites on the in-memory object
 * store: every S3 code path runs in every test run, with or without an S3 server.
 */
import { randomUUID } from 'node:crypto';
import { createRegistry } from '@wharf/core';
import {
  defineGcSuite,
  defineOciConformanceSuite,
  defineStoreConformanceSuite,
  type StoreHarness,
} from '@wharf/core/testing';
import { describe } from 'vitest';
import { MemoryObjectStore, type MemoryObjectStoreOptions } from '../src/objects/memory.js';
import { storageOn } from '../src/storage.js';
import { contentsOf, withoutNotices } from './helpers.js';

/** Short, so that deletions (which wait for it) keep the suites quick. */
const LEASE = 60;

/** A bucket per harness; `replica()` opens a second storage on the same bucket. */
function harness(
  server: MemoryObjectStoreOptions,
  conditionalWrites: boolean | 'auto',
): () => Promise<StoreHarness> {
  return async () => {
    const store = new MemoryObjectStore(server);
    const prefix = `t-${randomUUID()}/`;
    const settings = { prefix, conditionalWrites, cache: { lease: LEASE } };
    return {
      storage: storageOn(store, settings),
      inspect: () => contentsOf(store, prefix).then(withoutNotices),
      replica: async () => storageOn(store, settings),
    };
  };
}

/** Up to `ms` of random delay before every call, so concurrent requests interleave. */
function latency(ms: number): MemoryObjectStoreOptions['hooks'] {
  return { before: () => new Promise((resolve) => setTimeout(resolve, Math.random() * ms)) };
}

describe('S3 storage on the in-memory object store', () => {
  defineStoreConformanceSuite({ name: 's3 in memory', create: harness({}, 'auto') });
  defineStoreConformanceSuite({
    name: 's3 in memory, with latency',
    create: harness({ hooks: latency(3), pageSize: 7 }, 'auto'),
  });
  // A server that ignores If-None-Match: the probe picks the marker-and-list claims.
  defineStoreConformanceSuite({
    name: 's3 in memory, no conditional writes',
    create: harness({ conditionalWrites: false, hooks: latency(2), pageSize: 7 }, 'auto'),
    // Without conditional writes the outbox's create-only writes cannot be exact (see S3EventStore).
    eventStore: false,
  });
  defineGcSuite({ name: 's3 in memory', create: harness({ hooks: latency(2) }, 'auto') });
  defineOciConformanceSuite({
    name: 's3 in memory',
    target: {
      registry: createRegistry({
        storage: storageOn(new MemoryObjectStore({ pageSize: 50 }), { prefix: 'oci' }),
      }),
    },
  });
});
