import type { ByteWindow } from '@wharf/core';
import type { ObjectBody, ObjectStore } from './objects/types.js';

/** How a large read is split: see {@link readRanges}. */
export interface RangedReadSettings {
  /** Bytes per ranged GET. */
  readonly partSize: number;
  /** Ranged GETs running (and parts held in memory) at once, the one being consumed included. */
  readonly partsInFlight: number;
}

/** A ranged GET that came back with other bytes than asked for, or none. */
export class RangedReadError extends Error {
  override readonly name = 'RangedReadError';
}

function reasonOf(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted', { cause: signal.reason });
}

/** One ranged GET: its bytes as they arrive, until the consumer takes them. */
class Part {
  readonly #chunks: Uint8Array[] = [];
  #head = 0;
  #done = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #body: ObjectBody | undefined;
  #stopped = false;
  /**
   * Resolves when the GET has answered (`false`: the object does not exist), rejects when it
   * failed before answering.
   */
  readonly found: Promise<boolean>;

  constructor(store: ObjectStore, key: string, window: ByteWindow, signal: AbortSignal) {
    let answered!: (found: boolean) => void;
    let failed!: (error: Error) => void;
    this.found = new Promise((resolve, reject) => {
      answered = resolve;
      failed = reject;
    });
    // Only the first part's answer is awaited; the others' failures surface through take().
    this.found.catch(() => {});
    void this.#fetch(store, key, window, signal, answered, failed);
  }

  async #fetch(
    store: ObjectStore,
    key: string,
    window: ByteWindow,
    signal: AbortSignal,
    answered: (found: boolean) => void,
    failed: (error: Error) => void,
  ): Promise<void> {
    try {
      const body = await store.get(key, window, signal);
      answered(body !== null);
      if (!body) throw new RangedReadError(`${key} disappeared during a ranged read`);
      this.#body = body;
      // Stopped while the GET was on its way: release the connection it brought.
      if (this.#stopped) return body.destroy();
      let received = 0;
      for await (const chunk of body) {
        if (this.#stopped) return;
        received += chunk.byteLength;
        if (received > window.length) throw new RangedReadError(`${key}: a ranged GET sent too many bytes`);
        this.#chunks.push(chunk);
        this.#notify();
      }
      if (received !== window.length)
        throw new RangedReadError(`${key}: a ranged GET ended after ${received} of ${window.length} bytes`);
      this.#done = true;
    } catch (error) {
      this.#error ??= error instanceof Error ? error : new Error(String(error));
      failed(this.#error);
    }
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /**
   * The next chunk as the socket delivered it, `null` once the part is complete; throws the part's
   * failure. Chunks are not joined into larger writes: the copy costs more CPU than the socket
   * writes it saves (docs/architecture.md, "S3 read path").
   */
  async take(): Promise<Uint8Array | null> {
    for (;;) {
      if (this.#head < this.#chunks.length) return this.#take();
      if (this.#error) throw this.#error;
      if (this.#done) return null;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #take(): Uint8Array {
    const chunk = this.#chunks[this.#head]!;
    // Drop the reference so the part's memory goes as it is consumed.
    this.#chunks[this.#head++] = EMPTY;
    return chunk;
  }

  /** Stops reading, releases the body and what was buffered. */
  stop(error: Error): void {
    this.#stopped = true;
    this.#error ??= error;
    this.#chunks.length = 0;
    this.#body?.destroy();
    this.#notify();
  }
}

const EMPTY = new Uint8Array(0);

/** `window` cut into consecutive windows of at most `partSize` bytes. */
export function splitWindow(window: ByteWindow, partSize: number): ByteWindow[] {
  const windows: ByteWindow[] = [];
  const end = window.offset + window.length;
  for (let offset = window.offset; offset < end; offset += partSize)
    windows.push({ offset, length: Math.min(partSize, end - offset) });
  return windows;
}

/**
 * Reads `window` of an object as consecutive ranged GETs, `partsInFlight` at a time, yielding
 * their bytes strictly in order. One GET is limited by one connection's speed (the server reads
 * and sends an object sequentially); several in parallel fill the link (see
 * `docs/architecture.md`, "S3 read path"). Backpressure: a part is started only when the one
 * being consumed is finished, so at most `partsInFlight` parts are held in memory. A part that
 * fails, or brings other than the bytes asked for, ends the stream with an error after the bytes
 * before it (the client sees a short body, never wrong bytes). The stream's `return()` (even
 * before the first read) or `signal` aborts every GET in flight and releases its connection.
 * `null` when the object does not exist.
 */
export async function readRanges(
  store: ObjectStore,
  key: string,
  window: ByteWindow,
  settings: RangedReadSettings,
  signal?: AbortSignal,
): Promise<AsyncIterable<Uint8Array> | null> {
  const windows = splitWindow(window, settings.partSize);
  const controller = new AbortController();
  const parts: Part[] = [];
  let next = 0;
  /** Why the read ended early, once it has; `null` once it completed. */
  let ended: Error | null | undefined;
  let returned = false;

  const fill = (): void => {
    while (ended === undefined && parts.length < settings.partsInFlight && next < windows.length)
      parts.push(new Part(store, key, windows[next++]!, controller.signal));
  };
  const end = (reason: Error | null): void => {
    if (ended !== undefined) return;
    ended = reason;
    signal?.removeEventListener('abort', onAbort);
    if (reason) {
      controller.abort(reason);
      for (const part of parts.splice(0)) part.stop(reason);
    }
  };
  const onAbort = (): void => end(reasonOf(signal!));
  const fail = (error: unknown): Error => {
    const reason = error instanceof Error ? error : new Error(String(error));
    end(reason);
    return reason;
  };

  if (signal?.aborted) throw reasonOf(signal);
  signal?.addEventListener('abort', onAbort, { once: true });
  fill();
  try {
    if (!(await parts[0]!.found)) {
      end(new Error('not found'));
      return null;
    }
  } catch (error) {
    throw fail(error);
  }

  const iterator: AsyncIterableIterator<Uint8Array> = {
    async next(): Promise<IteratorResult<Uint8Array>> {
      try {
        while (parts.length > 0) {
          const chunk = await parts[0]!.take();
          if (chunk) return { done: false, value: chunk };
          parts.shift();
          fill();
        }
        if (ended && !returned) throw ended;
        end(null);
        return { done: true, value: undefined };
      } catch (error) {
        throw fail(error);
      }
    },
    async return(): Promise<IteratorResult<Uint8Array>> {
      returned = true;
      end(new RangedReadError('the reader stopped'));
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
