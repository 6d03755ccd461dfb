import { createMemoryStorage } from '@wharf/core';
import { defineStoreConformanceSuite } from '@wharf/core/testing';

defineStoreConformanceSuite({
  name: 'memory',
  create: async () => {
    const storage = createMemoryStorage();
    // The memory stores are shared objects: a "replica" is the same storage.
    return { storage, replica: async () => storage };
  },
});
