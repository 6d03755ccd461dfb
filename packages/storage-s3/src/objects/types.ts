import type { ByteWindow } from '@wharf/core';

/** What a HEAD tells about an object. */
export interface ObjectHead {
  readonly size: number;
  readonly lastModified: Date;
  /** User metadata (`x-amz-meta-*`), keys lower-case and without the prefix. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** An object in a listing. */
export interface ListedObject {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
}

/** One page of a listing. */
export interface ListResult {
  readonly objects: readonly ListedObject[];
  /** Common prefixes (with a delimiter), each ending with the delimiter. */
  readonly prefixes: readonly string[];
  /** Continuation token of the next page, when there is one. */
  readonly next?: string;
}

/** Options of {@link ObjectStore.list}. */
export interface ListOptions {
  readonly delimiter?: string;
  /** Only keys strictly after this one. */
  readonly startAfter?: string;
  readonly token?: string;
  readonly maxKeys?: number;
}

/** An in-progress multipart upload. */
export interface MultipartRef {
  readonly key: string;
  readonly uploadId: string;
}

/** An in-progress multipart upload in a listing. */
export interface ListedMultipart extends MultipartRef {
  /** When the upload was started (the server's clock). */
  readonly initiated: Date;
}

/** One page of in-progress multipart uploads. */
export interface MultipartListResult {
  readonly uploads: readonly ListedMultipart[];
  readonly next?: MultipartRef;
}

/** A readable object body: async-iterable, and destroyable to release the connection early. */
export interface ObjectBody extends AsyncIterable<Uint8Array> {
  destroy(error?: Error): void;
}

/** Options of {@link ObjectStore.put}. */
export interface PutOptions {
  /** `If-None-Match: *`: only create, never overwrite. */
  readonly ifNoneMatch?: boolean;
  /** User metadata, sent as `x-amz-meta-<key>`. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

/** A completed part of a multipart upload. */
export interface CompletedPart {
  readonly partNumber: number;
  readonly etag: string;
}

/**
 * The few object-store operations the backend needs, so that the AWS SDK and minio-js can both
 * drive it. Keys are full object keys (prefix included). Failures other than the ones a method
 * documents are thrown as the client threw them.
 */
export interface ObjectStore {
  readonly bucket: string;
  /** The object's size and metadata, or `null` when it does not exist. */
  head(key: string, signal?: AbortSignal): Promise<ObjectHead | null>;
  /** The object's bytes (or a window of them), or `null` when it does not exist. */
  get(key: string, range?: ByteWindow, signal?: AbortSignal): Promise<ObjectBody | null>;
  /** Writes a whole object; resolves `false` when `ifNoneMatch` was set and the key exists (412). */
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<boolean>;
  /** Deletes objects (missing ones are fine). */
  delete(keys: readonly string[]): Promise<void>;
  list(prefix: string, options?: ListOptions): Promise<ListResult>;
  listMultipart(prefix: string, marker?: MultipartRef): Promise<MultipartListResult>;
  createMultipart(key: string, signal?: AbortSignal): Promise<string>;
  uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Uint8Array,
    signal?: AbortSignal,
  ): Promise<string>;
  /**
   * CopyObject of a whole object of at most 5 GiB within the bucket (some servers, Ceph RGW among
   * them, share the data instead of copying it).
   */
  copy(source: string, target: string, signal?: AbortSignal): Promise<void>;
  /** UploadPartCopy of `range` of `source` (same bucket). */
  copyPart(
    key: string,
    uploadId: string,
    partNumber: number,
    source: string,
    range: ByteWindow,
    signal?: AbortSignal,
  ): Promise<string>;
  completeMultipart(
    key: string,
    uploadId: string,
    parts: readonly CompletedPart[],
    signal?: AbortSignal,
  ): Promise<void>;
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /** A presigned GET URL. */
  presignGet(key: string, expiresIn: number): Promise<string>;
}
