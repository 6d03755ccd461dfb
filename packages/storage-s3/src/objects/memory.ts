import { createHash, randomUUID } from 'node:crypto';
import type { ByteWindow } from '@wharf/core';
import { S3RequestError } from './errors.js';
import type {
  CompletedPart,
  ListedMultipart,
  ListOptions,
  ListResult,
  MultipartListResult,
  MultipartRef,
  ObjectBody,
  ObjectHead,
  ObjectStore,
  PutOptions,
} from './types.js';

/** The operations of {@link ObjectStore}, as hooks and counters name them. */
export type ObjectOperation = Exclude<keyof ObjectStore, 'bucket'>;

/** One call, as the hooks see it. */
export interface ObjectCall {
  readonly operation: ObjectOperation;
  /** The object key (the target for copies, the prefix for listings). */
  readonly key: string;
}

/** Fault and latency injection for {@link MemoryObjectStore}. */
export interface ObjectStoreHooks {
  /** Runs before a call takes effect: resolve later to delay it, throw to fail it. */
  before?(call: ObjectCall): void | Promise<void>;
  /**
   * Runs after a call took effect, before its result is returned: a throw here is a lost response
   * (the server did the work, the client saw an error), as after a timeout or a reset connection.
   */
  after?(call: ObjectCall): void | Promise<void>;
}

/** Options of {@link MemoryObjectStore}. */
export interface MemoryObjectStoreOptions {
  readonly bucket?: string;
  /**
   * Whether `PutObject` honours `If-None-Match: *` (AWS since 2024, Ceph RGW, MinIO). `false`
   * behaves like servers that ignore the header: the write replaces the object. Default `true`.
   */
  readonly conditionalWrites?: boolean;
  /** The smallest part (except the last) CompleteMultipartUpload accepts. Default 5 MiB. */
  readonly minPartSize?: number;
  /** The highest part number. Default 10 000. */
  readonly maxParts?: number;
  /** The most entries a listing page holds, whatever the caller asks for. Default 1000. */
  readonly pageSize?: number;
  readonly hooks?: ObjectStoreHooks;
}

interface StoredObject {
  readonly bytes: Buffer;
  readonly lastModified: Date;
  readonly metadata: Readonly<Record<string, string>>;
}

interface Upload {
  readonly key: string;
  readonly uploadId: string;
  readonly initiated: Date;
  readonly parts: Map<number, { readonly bytes: Buffer; readonly etag: string }>;
  state: 'open' | 'aborted';
}

const MiB = 1024 * 1024;
/** The largest object CopyObject copies, and the largest part. */
const MAX_COPY = 5 * 1024 * MiB;
/** S3's limit on user metadata (keys and values). */
const MAX_METADATA = 2048;
/** How much of a body one chunk of a GET yields. */
const READ_CHUNK = 256 * 1024;

function etagOf(bytes: Uint8Array): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

/** HTTP dates, which HeadObject's `Last-Modified` is, have whole seconds. */
function toSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

function noSuchUpload(): S3RequestError {
  return new S3RequestError(404, 'NoSuchUpload', 'the multipart upload does not exist');
}

/** Streams `bytes` in chunks; `destroy()` ends the stream early. */
function bodyOf(bytes: Buffer): ObjectBody {
  let stopped: Error | undefined | null = null;
  return {
    async *[Symbol.asyncIterator]() {
      for (let offset = 0; offset < bytes.byteLength; offset += READ_CHUNK) {
        // A real body arrives over time: let other work run between chunks.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (stopped !== null) {
          if (stopped) throw stopped;
          return;
        }
        yield bytes.subarray(offset, Math.min(offset + READ_CHUNK, bytes.byteLength));
      }
    },
    destroy(error?: Error) {
      stopped ??= error;
    },
  };
}

/**
 * An S3 bucket in memory, behind the same port as the real clients, with what S3 servers do and
 * do not do: conditional creates (switchable), multipart part-size and part-number rules checked at
 * completion, `UploadPartCopy` ranges, listings in byte order with delimiters and pagination,
 * `Last-Modified` in whole seconds on HEAD but not in listings (as Ceph RGW reports them), and Ceph
 * RGW's quirks where they show through the port: completing an aborted upload fails with a 500,
 * and CompleteMultipartUpload replaces an existing object whatever the caller wanted. Counts calls
 * per operation, and takes hooks that delay or fail them.
 */
export class MemoryObjectStore implements ObjectStore {
  readonly bucket: string;
  /** Calls made so far, per operation. */
  readonly calls = new Map<ObjectOperation, number>();
  readonly #objects = new Map<string, StoredObject>();
  readonly #uploads = new Map<string, Upload>();
  readonly #conditional: boolean;
  readonly #minPartSize: number;
  readonly #maxParts: number;
  readonly #pageSize: number;
  readonly #hooks: ObjectStoreHooks;

  constructor(options: MemoryObjectStoreOptions = {}) {
    this.bucket = options.bucket ?? 'memory';
    this.#conditional = options.conditionalWrites ?? true;
    this.#minPartSize = options.minPartSize ?? 5 * MiB;
    this.#maxParts = options.maxParts ?? 10_000;
    this.#pageSize = options.pageSize ?? 1000;
    this.#hooks = options.hooks ?? {};
  }

  /** Every object key, sorted. */
  keys(): string[] {
    return [...this.#objects.keys()].sort(compare);
  }

  /** Calls of `operation` so far (all operations when omitted). */
  count(operation?: ObjectOperation): number {
    if (operation) return this.calls.get(operation) ?? 0;
    let total = 0;
    for (const n of this.calls.values()) total += n;
    return total;
  }

  async #call<T>(operation: ObjectOperation, key: string, apply: () => T): Promise<T> {
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
    const call: ObjectCall = { operation, key };
    await this.#hooks.before?.(call);
    const result = apply();
    await this.#hooks.after?.(call);
    return result;
  }

  head(key: string): Promise<ObjectHead | null> {
    return this.#call('head', key, () => {
      const object = this.#objects.get(key);
      if (!object) return null;
      return {
        size: object.bytes.byteLength,
        lastModified: toSeconds(object.lastModified),
        metadata: object.metadata,
      };
    });
  }

  get(key: string, range?: ByteWindow): Promise<ObjectBody | null> {
    return this.#call('get', key, () => {
      const object = this.#objects.get(key);
      if (!object) return null;
      if (!range) return bodyOf(object.bytes);
      const size = object.bytes.byteLength;
      if (range.offset < 0 || range.length <= 0 || range.offset >= size)
        throw new S3RequestError(416, 'InvalidRange', 'the requested range is not satisfiable');
      return bodyOf(object.bytes.subarray(range.offset, Math.min(size, range.offset + range.length)));
    });
  }

  put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<boolean> {
    return this.#call('put', key, () => {
      const metadata = { ...options.metadata };
      const metadataSize = Object.entries(metadata).reduce((n, [k, v]) => n + k.length + v.length, 0);
      if (metadataSize > MAX_METADATA)
        throw new S3RequestError(400, 'MetadataTooLarge', 'user metadata exceeds 2 KiB');
      if (options.ifNoneMatch && this.#conditional && this.#objects.has(key)) return false;
      this.#objects.set(key, { bytes: Buffer.from(body), lastModified: new Date(), metadata });
      return true;
    });
  }

  delete(keys: readonly string[]): Promise<void> {
    return this.#call('delete', keys[0] ?? '', () => {
      for (const key of keys) this.#objects.delete(key);
    });
  }

  list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    return this.#call('list', prefix, () => {
      const limit = Math.min(options.maxKeys ?? 1000, this.#pageSize);
      const after = options.token ? Buffer.from(options.token, 'base64url').toString() : options.startAfter;
      const objects: Array<{ key: string; size: number; lastModified: Date }> = [];
      const prefixes: string[] = [];
      let last: string | undefined;
      let truncated = false;
      for (const key of this.keys()) {
        if (!key.startsWith(prefix) || (after !== undefined && compare(key, after) <= 0)) continue;
        const cut = options.delimiter ? key.indexOf(options.delimiter, prefix.length) : -1;
        const common = cut >= 0 ? key.slice(0, cut + options.delimiter!.length) : undefined;
        if (common !== undefined && common === prefixes[prefixes.length - 1]) {
          last = key;
          continue;
        }
        if (objects.length + prefixes.length >= limit) {
          truncated = true;
          break;
        }
        if (common !== undefined) prefixes.push(common);
        else {
          const object = this.#objects.get(key)!;
          objects.push({ key, size: object.bytes.byteLength, lastModified: object.lastModified });
        }
        last = key;
      }
      return {
        objects,
        prefixes,
        ...(truncated && last !== undefined ? { next: Buffer.from(last).toString('base64url') } : {}),
      };
    });
  }

  listMultipart(prefix: string, marker?: MultipartRef): Promise<MultipartListResult> {
    return this.#call('listMultipart', prefix, () => {
      const open = [...this.#uploads.values()]
        .filter((u) => u.state === 'open' && u.key.startsWith(prefix))
        .sort((a, b) => compare(a.key, b.key) || a.initiated.getTime() - b.initiated.getTime());
      // Pages continue after the marker: key order, then initiation order within one key.
      const at = marker ? open.findIndex((u) => u.key === marker.key && u.uploadId === marker.uploadId) : -1;
      const start = !marker ? 0 : at >= 0 ? at + 1 : open.findIndex((u) => compare(u.key, marker.key) > 0);
      const from = start < 0 ? open.length : start;
      const page = open.slice(from, from + this.#pageSize);
      const uploads: ListedMultipart[] = page.map((u) => ({
        key: u.key,
        uploadId: u.uploadId,
        initiated: u.initiated,
      }));
      const lastListed = page[page.length - 1];
      return from + page.length < open.length && lastListed
        ? { uploads, next: { key: lastListed.key, uploadId: lastListed.uploadId } }
        : { uploads };
    });
  }

  createMultipart(key: string): Promise<string> {
    return this.#call('createMultipart', key, () => {
      const uploadId = randomUUID();
      this.#uploads.set(uploadId, { key, uploadId, initiated: new Date(), parts: new Map(), state: 'open' });
      return uploadId;
    });
  }

  #openUpload(key: string, uploadId: string, partNumber?: number): Upload {
    const upload = this.#uploads.get(uploadId);
    if (!upload || upload.key !== key || upload.state !== 'open') throw noSuchUpload();
    if (
      partNumber !== undefined &&
      !(Number.isInteger(partNumber) && partNumber >= 1 && partNumber <= this.#maxParts)
    )
      throw new S3RequestError(400, 'InvalidArgument', `part number ${partNumber} is out of range`);
    return upload;
  }

  uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array): Promise<string> {
    return this.#call('uploadPart', key, () => {
      const upload = this.#openUpload(key, uploadId, partNumber);
      if (body.byteLength > MAX_COPY) throw new S3RequestError(400, 'EntityTooLarge', 'part over 5 GiB');
      // Copied: callers reuse their part buffers.
      const bytes = Buffer.from(body);
      const etag = etagOf(bytes);
      upload.parts.set(partNumber, { bytes, etag });
      return etag;
    });
  }

  copy(source: string, target: string): Promise<void> {
    return this.#call('copy', target, () => {
      const object = this.#objects.get(source);
      if (!object) throw new S3RequestError(404, 'NoSuchKey', `copy source ${source} does not exist`);
      if (object.bytes.byteLength > MAX_COPY)
        throw new S3RequestError(400, 'InvalidRequest', 'CopyObject copies at most 5 GiB');
      this.#objects.set(target, { bytes: object.bytes, lastModified: new Date(), metadata: object.metadata });
    });
  }

  copyPart(
    key: string,
    uploadId: string,
    partNumber: number,
    source: string,
    range: ByteWindow,
  ): Promise<string> {
    return this.#call('copyPart', key, () => {
      const upload = this.#openUpload(key, uploadId, partNumber);
      const object = this.#objects.get(source);
      if (!object) throw new S3RequestError(404, 'NoSuchKey', `copy source ${source} does not exist`);
      const end = range.offset + range.length;
      if (range.offset < 0 || range.length <= 0 || end > object.bytes.byteLength)
        throw new S3RequestError(400, 'InvalidArgument', 'the copy source range is not in the object');
      if (range.length > MAX_COPY) throw new S3RequestError(400, 'EntityTooLarge', 'part over 5 GiB');
      const bytes = object.bytes.subarray(range.offset, end);
      const etag = etagOf(bytes);
      upload.parts.set(partNumber, { bytes, etag });
      return etag;
    });
  }

  completeMultipart(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void> {
    return this.#call('completeMultipart', key, () => {
      const upload = this.#uploads.get(uploadId);
      // Ceph RGW answers a completion of an aborted upload with 500 "already in progress".
      if (upload?.state === 'aborted' && upload.key === key)
        throw new S3RequestError(500, 'InternalError', 'the multipart upload was aborted');
      this.#openUpload(key, uploadId);
      if (parts.length === 0) throw new S3RequestError(400, 'MalformedXML', 'no parts');
      const pieces: Buffer[] = [];
      parts.forEach((part, i) => {
        const stored = upload!.parts.get(part.partNumber);
        if (!stored || stored.etag.replace(/"/g, '') !== part.etag.replace(/"/g, ''))
          throw new S3RequestError(400, 'InvalidPart', `part ${part.partNumber} was not uploaded`);
        if (i > 0 && part.partNumber <= parts[i - 1]!.partNumber)
          throw new S3RequestError(400, 'InvalidPartOrder', 'parts must be in ascending order');
        if (i < parts.length - 1 && stored.bytes.byteLength < this.#minPartSize)
          throw new S3RequestError(
            400,
            'EntityTooSmall',
            `part ${part.partNumber} is under the minimum size`,
          );
        pieces.push(stored.bytes);
      });
      // As on Ceph RGW, an existing object is replaced: there is no conditional completion.
      this.#objects.set(key, { bytes: Buffer.concat(pieces), lastModified: new Date(), metadata: {} });
      this.#uploads.delete(uploadId);
    });
  }

  abortMultipart(key: string, uploadId: string): Promise<void> {
    return this.#call('abortMultipart', key, () => {
      const upload = this.#uploads.get(uploadId);
      if (upload?.key === key) {
        upload.state = 'aborted';
        upload.parts.clear();
      }
    });
  }

  presignGet(key: string, expiresIn: number): Promise<string> {
    return this.#call(
      'presignGet',
      key,
      () => `http://s3.memory.invalid/${this.bucket}/${encodeURI(key)}?X-Amz-Expires=${expiresIn}`,
    );
  }
}

/** Byte-wise order of keys, as S3 lists them (UTF-8 code units; keys here are ASCII). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
