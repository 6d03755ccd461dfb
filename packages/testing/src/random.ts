import { createHash } from 'node:crypto';

/** A deterministic source of numbers in [0, 1): the same seed gives the same sequence everywhere. */
export type Random = () => number;

/** 32 bits of a string's SHA-256: turns names into seeds. */
export function seedOf(...parts: ReadonlyArray<string | number>): number {
  return createHash('sha256').update(parts.join('\u0000')).digest().readUInt32LE(0);
}

/** mulberry32: small, fast and good enough to decide faults and fill test data. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `length` deterministic pseudo-random bytes for `seed`. */
export function pseudoRandomBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  const next = seededRandom(seed);
  for (let i = 0; i < length; i += 4) {
    const word = Math.floor(next() * 4294967296);
    for (let j = 0; j < 4 && i + j < length; j++) bytes[i + j] = (word >>> (8 * j)) & 0xff;
  }
  return bytes;
}
