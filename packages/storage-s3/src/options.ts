import { OptionsError } from '@wharf/core';
import type { MinioClientLike } from './objects/minio.js';
import { MAX_PART_SIZE, MIN_PART_SIZE } from './writer.js';

/**
 * What storage-s3 needs of an AWS SDK v3 `S3Client`. It is spelled out instead of naming the SDK's
 * class, whose type differs from one 3.x release to the next, so that the client of whichever
 * release the app installed is accepted.
 */
export interface S3ClientLike {
  send(command: object, options?: object): Promise<unknown>;
  /** The client's resolved configuration (credentials, region, endpoint rules, request handler). */
  readonly config: object;
}

/** The cache settings of {@link S3StorageOptions.cache}. */
export interface S3CacheOptions {
  /** Milliseconds a check for deletions in progress lets a replica answer from memory. Default 2000. */
  readonly lease?: number;
  /** The most facts kept. Default 100 000. */
  readonly entries?: number;
}

/** Options of {@link createS3Storage}. */
export interface S3StorageOptions {
  /**
   * The client: an `@aws-sdk/client-s3` `S3Client` (configure it with
   * {@link S3_COMPATIBLE_CLIENT_CONFIG} for servers other than AWS) or a `minio` `Client`. The
   * storage never closes it.
   */
  readonly client: S3ClientLike | MinioClientLike;
  /** The bucket; it must exist. */
  readonly bucket: string;
  /** A key prefix inside the bucket (`a/b` and `a/b/` are the same), default none. */
  readonly prefix?: string;
  /**
   * Answer blob GETs with a `307` to a presigned URL instead of streaming the bytes through the
   * registry. `expiresIn` (seconds) overrides the registry's `redirectExpiresIn`. Default `false`.
   */
  readonly redirect?: boolean | { readonly expiresIn?: number };
  /**
   * Bytes per multipart-upload part when streaming blobs and chunks into the bucket. Each write in
   * progress holds up to three times this in memory (two parts uploading, one filling). Default
   * 8 MiB; at least `minPartSize`.
   */
  readonly partSize?: number;
  /**
   * Blob reads longer than this many bytes (a whole blob, or the range a client asked for) are
   * fetched as parallel ranged GETs of `readPartSize` bytes, `readPartsInFlight` at a time, and
   * streamed in order; shorter ones are one streamed GET. Default 16 MiB.
   */
  readonly parallelReadThreshold?: number;
  /** Bytes per ranged GET of a parallel read. Default 8 MiB. */
  readonly readPartSize?: number;
  /**
   * Ranged GETs of one read running at once; each read in progress holds up to this many parts in
   * memory. Default 4; 1 reads the parts one after another.
   */
  readonly readPartsInFlight?: number;
  /** The server's smallest multipart part (except the last). Default 5 MiB, as on AWS. */
  readonly minPartSize?: number;
  /** The server's largest number of parts per multipart upload. Default 10 000, as on AWS. */
  readonly maxParts?: number;
  /** Requests one operation (a commit's part copies, listings) runs in parallel. Default 8. */
  readonly concurrency?: number;
  /**
   * How racing chunk writers are told apart. `true`: `PutObject` with `If-None-Match: *` (one
   * request, exact). `false`: a marker-and-list protocol for servers without conditional writes
   * (at most one racer wins, but racers may all lose and retry; a crash at the wrong moment
   * leaves that upload unable to grow). `'auto'` (default): probe the server once.
   */
  readonly conditionalWrites?: boolean | 'auto';
  /**
   * AWS SDK clients only: send the frequent small requests (HEAD, GET, PUTs up to 1 MiB, single
   * DELETEs) signed by wharf through the client's own request handler, skipping the SDK's command
   * stack, which costs several times more CPU than the rest of such a request. The client's
   * credentials, region, endpoint rules, agents and TLS settings still apply; its middleware does
   * not see these requests. `false` sends everything through `client.send`. Default `true`.
   */
  readonly signedRequests?: boolean;
  /**
   * Keep what only a deletion changes in memory: blob sizes, blob links, manifest revisions (with
   * their media types), so that a HEAD of a blob or a GET of a manifest by digest needs no S3
   * request. Replicas sharing the bucket stay correct: each deletion is announced in the bucket
   * (`_wharf/deleting/`) and waits until every replica has either seen the announcement or
   * stopped answering from memory, which takes `lease` plus half of it (deletes are that much
   * slower). Every program deleting from the bucket must be a wharf replica with the cache on: turn
   * it off when another one (distribution's garbage collector, a lifecycle rule) deletes there.
   * `lease` in milliseconds, default 2000; `entries`, default 100 000. Default `true`.
   */
  readonly cache?: boolean | S3CacheOptions;
  /**
   * Answer a tag read here again for up to this many milliseconds without asking the bucket. A tag
   * moved by another replica is then seen up to this late. Default 0: tags are never served stale.
   */
  readonly tagCacheTtl?: number;
}

/** {@link S3StorageOptions}, checked, with every default applied. */
export interface ResolvedS3Options {
  readonly prefix: string;
  readonly redirect: false | { readonly expiresIn: number | undefined };
  readonly partSize: number;
  readonly minPartSize: number;
  readonly maxParts: number;
  readonly concurrency: number;
  readonly reads: { readonly threshold: number; readonly partSize: number; readonly partsInFlight: number };
  readonly conditionalWrites: boolean | 'auto';
  readonly signedRequests: boolean;
  /** `false`: off. */
  readonly cache: false | { readonly lease: number; readonly entries: number };
  readonly tagCacheTtl: number;
}

const FACTORY = 'createS3Storage';
const MiB = 1024 * 1024;

function fail(option: string, problem: string): never {
  throw new OptionsError(FACTORY, option, problem);
}

function integer(
  value: unknown,
  option: string,
  min: number,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
    fail(option, `must be an integer from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return value;
}

function oneOf<T>(value: unknown, option: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T))
    fail(
      option,
      `must be ${allowed.map((a) => JSON.stringify(a)).join(' or ')}, not ${JSON.stringify(value)}`,
    );
  return value as T;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Whether the client is an AWS SDK client (else, once validated, a minio one). */
export function isAwsClient(client: S3ClientLike | MinioClientLike): client is S3ClientLike {
  return typeof (client as Partial<S3ClientLike>).send === 'function' && !('makeRequestAsync' in client);
}

/** Checks `options` where they enter, as {@link OptionsError}s that name the option. */
export function resolveOptions(options: S3StorageOptions): ResolvedS3Options {
  if (!isObject(options)) fail('options', 'must be an object with at least client and bucket');
  const { client, bucket } = options as Partial<S3StorageOptions>;
  const aws = isObject(client) && typeof client.send === 'function' && isObject(client.config);
  const minio = isObject(client) && typeof client.makeRequestAsync === 'function';
  if (!aws && !minio) fail('client', 'must be an AWS SDK v3 S3Client or a minio Client');
  if (typeof bucket !== 'string' || bucket.length === 0 || bucket.includes('/'))
    fail('bucket', 'must be a bucket name (a non-empty string without "/")');
  return resolveSettings(options);
}

/** The options besides the client and the bucket. */
export type StorageSettings = Omit<S3StorageOptions, 'client' | 'bucket'>;

/** {@link resolveOptions} without the client and the bucket. */
export function resolveSettings(options: StorageSettings): ResolvedS3Options {
  const { prefix } = options;
  if (prefix !== undefined && typeof prefix !== 'string') fail('prefix', 'must be a string');

  const minPartSize = integer(options.minPartSize, 'minPartSize', 1, MIN_PART_SIZE, MAX_PART_SIZE);
  const partSize = integer(
    options.partSize,
    'partSize',
    minPartSize,
    Math.max(8 * 1024 * 1024, minPartSize),
    MAX_PART_SIZE,
  );
  const maxParts = integer(options.maxParts, 'maxParts', 2, 10_000);
  const concurrency = integer(options.concurrency, 'concurrency', 1, 8, 1024);
  const reads = {
    threshold: integer(options.parallelReadThreshold, 'parallelReadThreshold', 0, 16 * MiB),
    partSize: integer(options.readPartSize, 'readPartSize', 1, 8 * MiB, MAX_PART_SIZE),
    partsInFlight: integer(options.readPartsInFlight, 'readPartsInFlight', 1, 4, 64),
  };

  let redirect: ResolvedS3Options['redirect'] = false;
  if (options.redirect === true) redirect = { expiresIn: undefined };
  else if (isObject(options.redirect))
    redirect = { expiresIn: integer(options.redirect.expiresIn, 'redirect.expiresIn', 1, 0) || undefined };
  else if (options.redirect !== undefined && options.redirect !== false)
    fail('redirect', 'must be true, false or { expiresIn }');

  let cache: ResolvedS3Options['cache'] = { lease: 2000, entries: 100_000 };
  if (options.cache === false) cache = false;
  else if (isObject(options.cache))
    cache = {
      lease: integer(options.cache.lease, 'cache.lease', 10, 2000, 60 * 60 * 1000),
      entries: integer(options.cache.entries, 'cache.entries', 1, 100_000),
    };
  else if (options.cache !== undefined && options.cache !== true)
    fail('cache', 'must be true, false or { lease, entries }');

  return {
    prefix: prefix ?? '',
    redirect,
    partSize,
    minPartSize,
    maxParts,
    concurrency,
    reads,
    conditionalWrites: oneOf(
      options.conditionalWrites,
      'conditionalWrites',
      [true, false, 'auto'] as const,
      'auto',
    ),
    signedRequests: oneOf(options.signedRequests, 'signedRequests', [true, false] as const, true),
    cache,
    tagCacheTtl: integer(options.tagCacheTtl, 'tagCacheTtl', 0, 0),
  };
}
