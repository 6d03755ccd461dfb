import { describe, expect, it } from 'vitest';
import { ByteCache } from '../src/util/byte-cache.js';

describe('ByteCache', () => {
  it('keeps the most recently used entries within its byte budget', () => {
    const cache = new ByteCache(100, 60);
    cache.set('a', Buffer.alloc(40));
    cache.set('b', Buffer.alloc(40));
    expect(cache.get('a')?.byteLength).toBe(40); // a is now the most recent
    cache.set('c', Buffer.alloc(40)); // over budget: b, the least recent, goes
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    expect(cache.get('c')).toBeDefined();
    cache.set('big', Buffer.alloc(61)); // larger than one entry may be: never cached
    expect(cache.get('big')).toBeUndefined();
  });
});
