import type { RegistryContext } from '../context.js';
import { notify } from '../observe.js';
import { parseDigest } from '../oci/digest.js';
import { BlobFill } from './blob-fill.js';
import { UpstreamClient } from './client.js';
import type { UpstreamConfig } from './config.js';
import { Flights } from './limiter.js';
import type { ProxyCacheEvent } from './types.js';

/** A configured upstream and its client. */
export interface Upstream {
  readonly config: UpstreamConfig;
  readonly client: UpstreamClient;
}

/** Where a pull of a proxied repository goes. */
export interface ProxyTarget {
  readonly upstream: Upstream;
  /** The repository the content is cached in (the upstream's prefix and the upstream name). */
  readonly local: string;
  /** The repository at the upstream. */
  readonly remote: string;
  /** The repository as the client named it (listings answer with it). */
  readonly name: string;
  /** The `ns` the request was routed by, echoed as `OCI-Namespace`. */
  readonly namespace: string | undefined;
}

/** A map that forgets its oldest entries beyond `max` (in-process bookkeeping must stay bounded). */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly #max: number;

  constructor(max: number) {
    super();
    this.#max = max;
  }

  override set(key: K, value: V): this {
    this.delete(key);
    super.set(key, value);
    if (this.size > this.#max) this.delete(this.keys().next().value as K);
    return this;
  }
}

/** What is known in this process about a cached tag's freshness. */
export interface TagCheck {
  /** Until when the cached tag is served without asking the upstream (epoch milliseconds). */
  readonly until: number;
  /** Set when the last check failed: the tag is served stale with this warning meanwhile. */
  readonly warning?: string;
}

/** A listing an upstream answered, kept for the upstream's tag freshness interval. */
export interface CachedListing {
  readonly at: number;
  /** The listed items (tags, or referrer descriptors). */
  readonly items: readonly unknown[];
  /** Query parameters of the next page, when the upstream had more. */
  readonly next?: Readonly<Record<string, string>>;
  /** Whether the upstream applied the `artifactType` filter itself. */
  readonly filtered?: boolean;
}

/** After a failed revalidation the tag is served stale this long before the upstream is asked again. */
const FAILED_CHECK_BACKOFF = 5_000;

/**
 * The pull-through cache's state in this process: the upstreams, downloads in flight (one per
 * blob, manifest and tag check, shared by every request for it), when each tag was last checked,
 * and which digests are being streamed (garbage collection leaves those alone).
 */
export class ProxyServices {
  readonly ctx: RegistryContext;
  readonly upstreams: readonly Upstream[];
  readonly #fills = new Map<string, BlobFill>();
  /** Manifest downloads and tag checks, by upstream, repository and reference. */
  readonly flights = new Flights();
  readonly #checks = new BoundedMap<string, TagCheck>(10_000);
  readonly #streaming = new Map<string, number>();
  readonly #used = new BoundedMap<string, number>(10_000);
  /** Tag and referrers listings fetched from upstreams, by repository and query. */
  readonly listings = new BoundedMap<string, CachedListing>(1_000);

  constructor(ctx: RegistryContext, upstreams: readonly UpstreamConfig[]) {
    this.ctx = ctx;
    this.upstreams = upstreams.map((config) => ({
      config,
      client: new UpstreamClient(config, (event) =>
        notify(ctx.logger, ctx.observer.upstreamRequest, event, ctx.observer),
      ),
    }));
  }

  /** Reports a cache lookup to the observer. */
  cacheEvent(target: ProxyTarget, kind: ProxyCacheEvent['kind'], outcome: ProxyCacheEvent['outcome']): void {
    const { ctx } = this;
    notify(
      ctx.logger,
      ctx.observer.proxyCache,
      { upstream: target.upstream.config.namespace, repository: target.local, kind, outcome },
      ctx.observer,
    );
  }

  /** The download of a blob in flight for this target, or a new one. */
  fill(target: ProxyTarget, digest: string): { fill: BlobFill; joined: boolean } {
    const key = `${target.upstream.config.namespace}\u0000${target.remote}\u0000${digest}`;
    const running = this.#fills.get(key);
    if (running) return { fill: running, joined: true };
    const fill = new BlobFill(this, target, parseDigest(digest), () => {
      if (this.#fills.get(key) === fill) this.#fills.delete(key);
    });
    this.#fills.set(key, fill);
    this.#markStreaming(digest, 1);
    void fill.settled.finally(() => this.#markStreaming(digest, -1));
    return { fill, joined: false };
  }

  #markStreaming(digest: string, delta: number): void {
    const count = (this.#streaming.get(digest) ?? 0) + delta;
    if (count > 0) this.#streaming.set(digest, count);
    else this.#streaming.delete(digest);
  }

  /** Whether a pull is downloading or streaming the digest right now. */
  streaming(digest: string): boolean {
    return this.#streaming.has(digest);
  }

  /** Counts a response body as streaming `digests` until it ends or is abandoned. */
  trackStream(
    body: AsyncIterable<Uint8Array> | Uint8Array | null | undefined,
    digests: readonly string[],
  ): AsyncIterable<Uint8Array> | Uint8Array | null | undefined {
    if (!body || body instanceof Uint8Array) return body;
    for (const digest of digests) this.#markStreaming(digest, 1);
    let open = true;
    const close = (): void => {
      if (!open) return;
      open = false;
      for (const digest of digests) this.#markStreaming(digest, -1);
    };
    const iterator = body[Symbol.asyncIterator]();
    return {
      [Symbol.asyncIterator]: () => ({
        async next() {
          try {
            const result = await iterator.next();
            if (result.done) close();
            return result;
          } catch (error) {
            close();
            throw error;
          }
        },
        async return(value?: unknown) {
          close();
          return (await iterator.return?.(value)) ?? { done: true, value: undefined };
        },
      }),
    };
  }

  #checkKey(repository: string, tag: string): string {
    return `${repository}\u0000${tag}`;
  }

  /** The last check of a cached tag, while it still holds. */
  tagCheck(target: ProxyTarget, tag: string): TagCheck | undefined {
    const check = this.#checks.get(this.#checkKey(target.local, tag));
    return check && check.until > this.ctx.clock.now() ? check : undefined;
  }

  /** Records that the upstream confirmed a tag, or (with a warning) that asking it failed. */
  recordTagCheck(target: ProxyTarget, tag: string, warning?: string): void {
    const freshness = target.upstream.config.tagFreshness;
    const until = this.ctx.clock.now() + (warning === undefined ? freshness : FAILED_CHECK_BACKOFF);
    this.#checks.set(
      this.#checkKey(target.local, tag),
      warning === undefined ? { until } : { until, warning },
    );
  }

  /** Forgets a tag's check (the tag is gone). */
  forgetTagCheck(repository: string, tag: string): void {
    this.#checks.delete(this.#checkKey(repository, tag));
  }

  /**
   * Records that cached content was just pulled, for garbage collection's unused-age and LRU
   * rules: its manifest revision or blob link is rewritten (which refreshes its date), at most
   * once per a tenth of `maxUnusedAge` (and per hour) in this process, and only when the upstream
   * has a cache lifecycle at all.
   */
  async used(
    target: ProxyTarget,
    item: { readonly digest: string; readonly mediaType?: string },
  ): Promise<void> {
    const { maxUnusedAge, maxBytes } = target.upstream.config.cache;
    if (maxUnusedAge === undefined && maxBytes === undefined) return;
    const interval = Math.min(maxUnusedAge === undefined ? 3_600_000 : maxUnusedAge / 10, 3_600_000);
    const key = `${target.local}\u0000${item.digest}`;
    const last = this.#used.get(key);
    const now = this.ctx.clock.now();
    if (last !== undefined && now - last < interval) return;
    this.#used.set(key, now);
    const { metadata } = this.ctx.storage;
    if (item.mediaType === undefined) await metadata.linkBlob(target.local, item.digest);
    else await metadata.putManifest(target.local, { digest: item.digest, mediaType: item.mediaType });
  }
}
