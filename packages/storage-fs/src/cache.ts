import type { Stats } from 'node:fs';

/** A bounded map that forgets its oldest entries. */
export class Cache<V> {
  readonly #map = new Map<string, V>();
  readonly #size: number;

  constructor(size: number) {
    this.#size = size;
  }

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  set(key: string, value: V): void {
    this.#map.delete(key);
    if (this.#map.size >= this.#size) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
    this.#map.set(key, value);
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }
}

/** What identifies one version of a file: a rewrite (rename over it, or in place) changes it. */
export interface Stamp {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

export function stampOf(info: Stats): Stamp {
  return { ino: info.ino, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs };
}

export function sameStamp(a: Stamp, info: Stats): boolean {
  return (
    a.ino === info.ino && a.size === info.size && a.mtimeMs === info.mtimeMs && a.ctimeMs === info.ctimeMs
  );
}

/**
 * File times are coarse (a clock tick), so a file changed twice within one tick keeps its times.
 * Content read after a stat is cached against that stat only if the file had not changed for this
 * long before the stat began: any later change then gets different times.
 */
const SETTLED_MS = 1000;

/** Whether a file stat'ed at (or after) `before` may key a cache entry (see {@link SETTLED_MS}). */
export function settled(info: Stats, before: number): boolean {
  return Math.max(info.mtimeMs, info.ctimeMs) < before - SETTLED_MS;
}
