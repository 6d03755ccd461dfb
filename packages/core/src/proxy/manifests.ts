import type { IncomingHttpHeaders } from 'node:http';
import { RegistryError } from '../errors.js';
import { loadManifest } from '../handlers/manifests.js';
import { digestOf } from '../hashing/hasher.js';
import { type ParsedDigest, parseDigest, tryParseDigest } from '../oci/digest.js';
import { type ParsedManifest, parseManifest, referrerDescriptor } from '../oci/manifest.js';
import { MANIFEST_MEDIA_TYPES } from '../oci/media-types.js';
import { isTag } from '../oci/names.js';
import { fromUpstreamError, UpstreamError } from './errors.js';
import { readSmall } from './http.js';
import { isOverrideMarker, overrideMarker } from './routing.js';
import type { ProxyServices, ProxyTarget } from './services.js';

/** Every manifest type wharf stores, so the upstream answers with what the tag really points at. */
const ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

/** A reference resolved to a digest that is cached now. */
export interface Resolved {
  readonly digest: string;
  /** What to serve from storage: the tag when the repository's tag names `digest`, else the digest. */
  readonly reference: string;
  /** Set when the cached tag was served because the upstream failed. */
  readonly warning?: string;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A manifest fetched from the upstream and verified. */
interface Fetched {
  readonly digest: string;
  readonly bytes: Buffer;
  readonly manifest: ParsedManifest;
}

/**
 * Downloads a manifest by digest or tag and verifies it: by digest, its bytes must hash to it; by
 * tag, to the upstream's `Docker-Content-Digest` when it sends one. It must be a manifest wharf
 * can store, no larger than `manifestMaxBytes`.
 */
async function fetchManifest(proxy: ProxyServices, target: ProxyTarget, reference: string): Promise<Fetched> {
  const { namespace } = target.upstream.config;
  const res = await target.upstream.client.request({
    method: 'GET',
    path: `/v2/${target.remote}/manifests/${reference}`,
    remote: target.remote,
    kind: 'manifest',
    accept: ACCEPT,
  });
  const bytes = await readSmall(
    res.body,
    res.headers['content-length'],
    proxy.ctx.limits.manifestMaxBytes,
    namespace,
  );
  const claimed =
    tryParseDigest(reference) ?? tryParseDigest(header(res.headers, 'docker-content-digest') ?? '');
  const digest = await digestOf(claimed?.algorithm ?? 'sha256', bytes);
  if (claimed && claimed.digest !== digest) {
    throw new UpstreamError(
      namespace,
      'invalid',
      `sent a manifest with digest ${digest} for ${claimed.digest}`,
    );
  }
  let manifest: ParsedManifest;
  try {
    manifest = parseManifest(bytes, header(res.headers, 'content-type') ?? '');
  } catch (error) {
    throw new UpstreamError(
      namespace,
      'invalid',
      `sent a manifest wharf cannot store (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
  return { digest, bytes, manifest };
}

/** Stores a verified manifest in the cached repository, in push order (docs/architecture.md, rule 6). */
async function storeManifest(proxy: ProxyServices, target: ProxyTarget, fetched: Fetched): Promise<void> {
  const { blobs, metadata } = proxy.ctx.storage;
  const { digest, bytes, manifest } = fetched;
  if ((await blobs.stat(digest))?.size !== bytes.byteLength) {
    await blobs.put(
      digest,
      (async function* () {
        yield bytes;
      })(),
      { size: bytes.byteLength },
    );
  }
  await metadata.putManifest(target.local, { digest, mediaType: manifest.mediaType });
  const subject = manifest.subject && tryParseDigest(manifest.subject.digest);
  if (subject) {
    await metadata.putReferrer(
      target.local,
      subject.digest,
      referrerDescriptor(manifest, digest, bytes.byteLength),
    );
  }
  proxy.ctx.manifestBytes.set(digest, bytes);
  proxy.ctx.emit({
    type: 'proxy.cached',
    upstream: target.upstream.config.namespace,
    repository: target.local,
    kind: 'manifest',
    digest,
    size: bytes.byteLength,
  });
}

/**
 * Makes a manifest present in the cached repository: from storage when the repository has it
 * (immutable, never revalidated), else downloaded once for every concurrent request. Bytes another
 * repository holds are not trusted to be this one's: the download is also the upstream's
 * confirmation.
 */
export async function ensureManifest(
  proxy: ProxyServices,
  target: ProxyTarget,
  parsed: ParsedDigest,
): Promise<void> {
  const { digest } = parsed;
  const cached = await loadManifest(proxy.ctx, target.local, digest);
  if (cached) {
    proxy.cacheEvent(target, 'manifest', 'hit');
    await proxy.used(target, { digest, mediaType: cached.mediaType });
    return;
  }
  const key = `m\u0000${target.upstream.config.namespace}\u0000${target.remote}\u0000${digest}`;
  try {
    await proxy.flights.run(key, async () => {
      await storeManifest(proxy, target, await fetchManifest(proxy, target, digest));
      return digest;
    });
  } catch (error) {
    proxy.cacheEvent(target, 'manifest', 'error');
    throw error instanceof UpstreamError ? fromUpstreamError(error, 'manifest') : error;
  }
  proxy.cacheEvent(target, 'manifest', 'miss');
}

/**
 * Asks the upstream where a tag points (a HEAD; a GET when the HEAD names no digest) and caches
 * what it names. Resolves the digest.
 */
async function checkTag(
  proxy: ProxyServices,
  target: ProxyTarget,
  tag: string,
  cachedDigest: string | null,
): Promise<{ digest: string; tagged: boolean }> {
  const { client, config } = target.upstream;
  const head = await client.request({
    method: 'HEAD',
    path: `/v2/${target.remote}/manifests/${tag}`,
    remote: target.remote,
    kind: 'manifest',
    accept: ACCEPT,
    ...(cachedDigest ? { timeout: config.timeouts.revalidate } : {}),
  });
  head.body.dispose();
  const named = tryParseDigest(header(head.headers, 'docker-content-digest') ?? '');
  if (named && named.digest === cachedDigest) return { digest: named.digest, tagged: true };
  let digest: string;
  if (named) {
    await ensureManifest(proxy, target, named);
    digest = named.digest;
  } else {
    const fetched = await fetchManifest(proxy, target, tag);
    await storeManifest(proxy, target, fetched);
    digest = fetched.digest;
  }
  const { metadata } = proxy.ctx.storage;
  // A tag pushed here meanwhile (a local override) is never overwritten.
  if (config.localOverrides && (await metadata.getTag(target.local, overrideMarker(tag)))) {
    return { digest, tagged: false };
  }
  await metadata.putTag(target.local, tag, digest);
  return { digest, tagged: true };
}

/** A readable account of an upstream failure, for a `Warning` header (quotes and controls removed). */
function warningOf(error: UpstreamError): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: header values must not carry them
  return `${error.message}; serving the cached tag`.replace(/["\\\u0000-\u001f\u007f]/g, ' ').slice(0, 512);
}

/**
 * Resolves a tag of a proxied repository (docs/architecture.md, "Pull-through cache"): a local
 * override is served as is; a cached tag checked within the freshness interval is served without
 * asking; otherwise the upstream is asked (one check per tag at a time in this process). When the
 * upstream fails and the tag is cached, the cached tag is served with a warning; a tag the
 * upstream no longer has is removed.
 */
async function resolveTag(proxy: ProxyServices, target: ProxyTarget, tag: string): Promise<Resolved> {
  const { metadata } = proxy.ctx.storage;
  const { config } = target.upstream;
  const [cached, marked] = await Promise.all([
    metadata.getTag(target.local, tag),
    config.localOverrides ? metadata.getTag(target.local, overrideMarker(tag)) : null,
  ]);
  const cachedDigest = cached && tryParseDigest(cached) ? cached : null;
  if (cachedDigest && marked) return { digest: cachedDigest, reference: tag };
  if (isOverrideMarker(tag)) throw new RegistryError('MANIFEST_UNKNOWN', { detail: { reference: tag } });
  const check = cachedDigest ? proxy.tagCheck(target, tag) : undefined;
  if (cachedDigest && check) {
    proxy.cacheEvent(target, 'tag', check.warning === undefined ? 'hit' : 'stale');
    const resolved = { digest: cachedDigest, reference: tag };
    return check.warning === undefined ? resolved : { ...resolved, warning: check.warning };
  }
  const key = `t\u0000${config.namespace}\u0000${target.remote}\u0000${tag}`;
  try {
    const { digest, tagged } = await proxy.flights.run(key, () => checkTag(proxy, target, tag, cachedDigest));
    proxy.recordTagCheck(target, tag);
    proxy.cacheEvent(target, 'tag', digest === cachedDigest ? 'revalidated' : 'miss');
    return { digest, reference: tagged ? tag : digest };
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    const failed = {
      type: 'proxy.failed',
      upstream: config.namespace,
      repository: target.local,
      reference: tag,
      status: fromUpstreamError(error, 'manifest').status,
      message: error.message,
    } as const;
    if (error.kind === 'not-found') {
      proxy.forgetTagCheck(target.local, tag);
      if (cachedDigest) await metadata.deleteTag(target.local, tag);
    } else if (cachedDigest) {
      const warning = warningOf(error);
      proxy.recordTagCheck(target, tag, warning);
      proxy.cacheEvent(target, 'tag', 'stale');
      proxy.ctx.emit({ ...failed, stale: true });
      return { digest: cachedDigest, reference: tag, warning };
    }
    proxy.cacheEvent(target, 'tag', 'error');
    proxy.ctx.emit({ ...failed, stale: false });
    throw fromUpstreamError(error, 'manifest');
  }
}

/** Makes the manifest a tag or digest names present in the cached repository. */
export async function resolveManifest(
  proxy: ProxyServices,
  target: ProxyTarget,
  reference: string,
): Promise<Resolved> {
  if (reference.includes(':')) {
    const parsed = parseDigest(reference);
    await ensureManifest(proxy, target, parsed);
    return { digest: parsed.digest, reference: parsed.digest };
  }
  if (!isTag(reference))
    throw new RegistryError('MANIFEST_UNKNOWN', { detail: { reference: reference.slice(0, 256) } });
  return resolveTag(proxy, target, reference);
}
