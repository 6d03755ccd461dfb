import { createHash, randomBytes } from 'node:crypto';
import type { RegistryStorage } from '../stores/types.js';

/** One isolated instance of a backend under test. */
export interface StoreHarness {
  readonly storage: RegistryStorage;
  /**
   * Every key or file the backend currently holds, so the suite can check that failures and
   * cancellations leave nothing behind. Optional, but strongly recommended.
   */
  inspect?(): Promise<string[]>;
  /** A second, independent handle on the same underlying storage (another replica). Optional. */
  replica?(): Promise<RegistryStorage>;
  /** Releases the instance (temporary directories, buckets, clients). */
  cleanup?(): Promise<void>;
}

/** Options of {@link defineStoreConformanceSuite}. */
export interface StoreConformanceOptions {
  /** Shown in the test names. */
  readonly name: string;
  /** Creates a fresh, empty, isolated instance of the backend. */
  create(): Promise<StoreHarness>;
  /**
   * Size of the "large" upload the suite pushes in uneven chunks, in bytes. Default 12 MiB
   * (crosses S3's 5 MiB part minimum twice).
   */
  readonly largeUploadSize?: number;
  /** Whether the backend has an event store (`storage.events`) to check. Default true. */
  readonly eventStore?: boolean;
  /** Per-test timeout in milliseconds. Default 60 s. */
  readonly timeout?: number;
}

/** Random content with its sha256 digest. */
export function content(size: number): { bytes: Buffer; digest: string } {
  const bytes = randomBytes(size);
  return { bytes, digest: sha256(bytes) };
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Streams `bytes` in chunks of `chunk` bytes, yielding to the event loop between them. */
export async function* streamOf(bytes: Uint8Array, chunk = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += chunk) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    yield bytes.subarray(offset, Math.min(offset + chunk, bytes.byteLength));
  }
}

/** Streams `bytes`, then throws `error` instead of ending (after `after` bytes, default all). */
export async function* failingStream(
  bytes: Uint8Array,
  error: Error,
  after = bytes.byteLength,
): AsyncGenerator<Uint8Array> {
  yield* streamOf(bytes.subarray(0, after));
  throw error;
}

/** Reads a stream (or `null`) into a buffer. */
export async function read(stream: AsyncIterable<Uint8Array> | null): Promise<Buffer | null> {
  if (!stream) return null;
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A fresh upload id, as core makes them. */
export function uploadId(): string {
  return crypto.randomUUID();
}
