import { createMemoryStorage } from '@wharf/core';
import { defineGcSuite, withLatency } from '@wharf/core/testing';

defineGcSuite({ name: 'memory', create: async () => ({ storage: createMemoryStorage() }) });
// Latency widens every race window between pushes and a collection, as a disk or bucket would.
defineGcSuite({
  name: 'memory with latency',
  create: async () => ({ storage: withLatency(createMemoryStorage(), 3) }),
});
