import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

/** Bytes per read when a {@link FileBody} is consumed as a stream (64 KiB reads cost ~2× more). */
const STREAM_READ_SIZE = 1 << 20;

/** Marks file bodies across copies of this package (an app may load both its ESM and CJS build). */
const BRAND = Symbol.for('@wharf/core.FileBody');

/**
 * A store body that is a byte range of an open file (what the filesystem store returns for blob
 * reads). Read as a stream it behaves like `fs.ReadStream`, allocating a buffer per read. An
 * adapter writing to a socket can call {@link FileBody.readInto} instead with buffers it reuses
 * once their writes have completed: a pull then allocates nothing per megabyte, which saves the
 * garbage collections that a stream of fresh buffers triggers (see `docs/architecture.md`,
 * "Reading blobs from files"). The file is closed when the body ends or is destroyed.
 */
export class FileBody extends Readable {
  readonly #handle: FileHandle;
  readonly #start: number;
  #position: number;
  readonly #end: number;
  #reading = false;
  #closing: Promise<void> | undefined;

  /** Whether `value` is a file body, from this copy of `@wharf/core` or another. */
  static isFileBody(value: unknown): value is FileBody {
    return typeof value === 'object' && value !== null && BRAND in value;
  }

  readonly [BRAND] = true;

  /**
   * @param handle - the open file; the body owns it from now on.
   * @param window - the bytes to send; default: from the start to the end of the file.
   */
  constructor(handle: FileHandle, window?: { readonly offset: number; readonly length: number }) {
    super({ highWaterMark: STREAM_READ_SIZE });
    this.#handle = handle;
    this.#start = window?.offset ?? 0;
    this.#position = this.#start;
    this.#end = window ? window.offset + window.length : Number.POSITIVE_INFINITY;
  }

  /** Bytes read from the file so far, as `fs.ReadStream` reports them. */
  get bytesRead(): number {
    return this.#position - this.#start;
  }

  /**
   * Reads the body's next bytes into `buffer`; resolves how many, `0` at the end. Not to be mixed
   * with reading the body as a stream, nor called again before the previous call settled.
   */
  async readInto(buffer: Uint8Array): Promise<number> {
    if (this.destroyed) throw new Error('the file body was destroyed');
    if (this.#reading) throw new Error('a read of this file body is already in progress');
    const wanted = Math.min(buffer.byteLength, this.#end - this.#position);
    if (wanted <= 0) return 0;
    this.#reading = true;
    try {
      const { bytesRead } = await this.#handle.read(buffer, 0, wanted, this.#position);
      this.#position += bytesRead;
      return bytesRead;
    } finally {
      this.#reading = false;
    }
  }

  override _read(): void {
    const wanted = Math.min(STREAM_READ_SIZE, this.#end - this.#position);
    if (wanted <= 0) {
      this.push(null);
      return;
    }
    const buffer = Buffer.allocUnsafe(wanted);
    this.readInto(buffer).then(
      (n) => {
        // Its reader stopped while the read was on its way.
        if (this.destroyed) return;
        this.push(n === 0 ? null : buffer.subarray(0, n));
      },
      (error: unknown) => this.destroy(error instanceof Error ? error : new Error(String(error))),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#closing ??= this.#handle.close().catch(() => {});
    this.#closing.then(() => callback(error));
  }
}
