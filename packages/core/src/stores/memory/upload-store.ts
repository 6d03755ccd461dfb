import { type Clock, systemClock } from '../../clock.js';
import { throwIfAborted } from '../../util/bytes.js';
import { OffsetMismatchError, UploadNotFoundError } from '../errors.js';
import type {
  BlobStore,
  ByteWindow,
  HashState,
  UploadAppendOptions,
  UploadCommitOptions,
  UploadSession,
  UploadStore,
} from '../types.js';

interface SessionRecord {
  readonly id: string;
  readonly repository: string;
  readonly algorithm: string;
  readonly createdAt: Date;
  updatedAt: Date;
  chunks: Buffer[];
  size: number;
  hashStates: HashState[];
}

/** An {@link UploadStore} in process memory, committing into a paired {@link BlobStore}. */
export class MemoryUploadStore implements UploadStore {
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #blobs: BlobStore;
  readonly #clock: Clock;

  constructor(blobs: BlobStore, options: { readonly clock?: Clock } = {}) {
    this.#blobs = blobs;
    this.#clock = options.clock ?? systemClock;
  }

  async create(init: { id: string; repository: string; algorithm: string }): Promise<UploadSession> {
    const now = new Date(this.#clock.now());
    const record: SessionRecord = {
      ...init,
      createdAt: now,
      updatedAt: now,
      chunks: [],
      size: 0,
      hashStates: [],
    };
    this.#sessions.set(init.id, record);
    return snapshot(record);
  }

  async get(id: string): Promise<UploadSession | null> {
    const record = this.#sessions.get(id);
    return record ? snapshot(record) : null;
  }

  async append(id: string, options: UploadAppendOptions): Promise<UploadSession> {
    const record = this.#sessions.get(id);
    if (!record) throw new UploadNotFoundError(id);
    if (record.size !== options.offset) throw new OffsetMismatchError(record.size);
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of options.body) {
      throwIfAborted(options.signal);
      chunks.push(Buffer.from(chunk));
      length += chunk.byteLength;
    }
    // Claim at the end: another writer may have appended while this body streamed in.
    const current = this.#sessions.get(id);
    if (current !== record) throw new UploadNotFoundError(id);
    if (record.size !== options.offset) throw new OffsetMismatchError(record.size);
    if (length > 0) record.chunks.push(Buffer.concat(chunks, length));
    record.size += length;
    record.updatedAt = new Date(this.#clock.now());
    return snapshot(record);
  }

  async saveHashState(id: string, state: HashState): Promise<void> {
    const record = this.#sessions.get(id);
    if (!record || state.offset > record.size) return;
    record.hashStates = [...record.hashStates.filter((s) => s.algorithm !== state.algorithm), state];
  }

  async *read(id: string, window: ByteWindow, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    const record = this.#sessions.get(id);
    if (!record) throw new UploadNotFoundError(id);
    const end = window.offset + window.length;
    let position = 0;
    for (const chunk of record.chunks) {
      throwIfAborted(signal);
      const chunkEnd = position + chunk.byteLength;
      if (chunkEnd > window.offset && position < end) {
        yield chunk.subarray(
          Math.max(0, window.offset - position),
          Math.min(chunk.byteLength, end - position),
        );
      }
      position = chunkEnd;
      if (position >= end) break;
    }
  }

  async commit(id: string, options: UploadCommitOptions): Promise<void> {
    const record = this.#sessions.get(id);
    if (!record) throw new UploadNotFoundError(id);
    if (record.size !== options.size)
      throw new OffsetMismatchError(record.size, 'upload size changed before commit');
    const chunks = record.chunks;
    await this.#blobs.put(
      options.digest,
      (async function* () {
        yield* chunks;
      })(),
      { size: options.size, ...(options.signal ? { signal: options.signal } : {}) },
    );
    this.#sessions.delete(id);
  }

  async delete(id: string): Promise<boolean> {
    return this.#sessions.delete(id);
  }

  async *list(): AsyncIterable<UploadSession> {
    for (const record of [...this.#sessions.values()]) yield snapshot(record);
  }
}

function snapshot(record: SessionRecord): UploadSession {
  const best = record.hashStates
    .filter((s) => s.offset <= record.size)
    .reduce<HashState | null>((a, b) => (a && a.offset >= b.offset ? a : b), null);
  return {
    id: record.id,
    repository: record.repository,
    algorithm: record.algorithm,
    size: record.size,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    hashState: best,
  };
}
