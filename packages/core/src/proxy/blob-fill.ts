import { createHasher } from '../hashing/hasher.js';
import type { ParsedDigest } from '../oci/digest.js';
import type { StagedBlob } from '../stores/types.js';
import type { UpstreamResponse } from './client.js';
import { UpstreamError } from './errors.js';
import type { ProxyServices, ProxyTarget } from './services.js';
import { Spool, type SpoolReadOptions } from './spool.js';

/** What the upstream said about a blob it is sending. */
export interface FillStart {
  /** From `Content-Length`, when the upstream sent one. */
  readonly size: number | undefined;
}

/**
 * One download of a blob from an upstream, shared by every request for it in this process
 * (docs/architecture.md, "Pull-through cache"): the body is verified as it is spooled, clients
 * follow the spool, and it becomes visible in storage only complete and verified. Where the store
 * can stage a blob (`BlobStore.stage`), the spool is that staged file and storing it is a rename;
 * otherwise storage receives it through `BlobStore.put` like a push. Clients come and go without
 * affecting the download.
 */
export class BlobFill {
  readonly digest: string;
  /** Resolves once the upstream answered; rejects with its failure (nothing is stored then). */
  readonly started: Promise<FillStart>;
  /** Resolves whether the blob was stored, once the download and the store write are over. */
  readonly settled: Promise<boolean>;
  #spool: Spool | undefined;
  #staged: StagedBlob | undefined;

  /** `done` runs once no new reader may join (before the spool is let go). */
  constructor(services: ProxyServices, target: ProxyTarget, parsed: ParsedDigest, done: () => void) {
    this.digest = parsed.digest;
    const opened = this.#open(services, target);
    this.started = opened.then(({ size }) => ({ size }));
    this.settled = opened.then(
      (response) => this.#run(services, target, parsed, response, done),
      () => {
        done();
        return false;
      },
    );
  }

  async #open(
    services: ProxyServices,
    target: ProxyTarget,
  ): Promise<UpstreamResponse & { size: number | undefined }> {
    const { client } = target.upstream;
    const response = await client.request({
      method: 'GET',
      path: `/v2/${target.remote}/blobs/${this.digest}`,
      remote: target.remote,
      kind: 'blob',
    });
    const declared = Number(response.headers['content-length']);
    const size = Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined;
    try {
      if (size !== undefined && size > services.ctx.limits.blobMaxBytes) {
        throw new UpstreamError(
          client.config.namespace,
          'invalid',
          `the blob is larger than the configured limit (${size} bytes)`,
        );
      }
      const { blobs } = services.ctx.storage;
      this.#staged = blobs.stage ? await blobs.stage() : undefined;
      this.#spool = this.#staged
        ? Spool.over(this.#staged)
        : await Spool.create(client.config.spoolDirectory, size);
    } catch (error) {
      response.body.dispose();
      await this.#staged?.handle.close().catch(() => {});
      await this.#staged?.discard();
      throw error;
    }
    return { ...response, size };
  }

  /** Follows the download from `options.offset`; only after {@link started} resolved. */
  read(options: SpoolReadOptions): AsyncIterable<Uint8Array> {
    if (!this.#spool) throw new Error('the fill has not started');
    return this.#spool.read(options);
  }

  async #run(
    services: ProxyServices,
    target: ProxyTarget,
    parsed: ParsedDigest,
    response: UpstreamResponse & { size: number | undefined },
    done: () => void,
  ): Promise<boolean> {
    const spool = this.#spool!;
    const staged = this.#staged;
    const { ctx } = services;
    const namespace = target.upstream.client.config.namespace;
    const failed = (error: unknown): false => {
      // A failed download fails the put with the download's error, which was reported already.
      if (!(error instanceof UpstreamError)) {
        ctx.logger.error(
          { err: error, digest: this.digest, upstream: namespace },
          'storing a cached blob failed',
        );
      }
      return false;
    };
    // Without a staged file, storage reads the spool like any client and sees its end only once
    // the download verified.
    const put = staged
      ? undefined
      : ctx.storage.blobs
          .put(this.digest, spool.read(), response.size === undefined ? {} : { size: response.size })
          .then(() => true, failed);
    const verified = await this.#download(services, target, parsed, response);
    try {
      const stored = staged ? verified && (await this.#commit(spool, staged).catch(failed)) : await put!;
      if (!stored) return false;
      await ctx.storage.metadata.linkBlob(target.local, this.digest);
      ctx.emit({
        type: 'proxy.cached',
        upstream: namespace,
        repository: target.local,
        kind: 'blob',
        digest: this.digest,
        size: spool.written,
      });
      return true;
    } catch (error) {
      ctx.logger.error(
        { err: error, digest: this.digest, upstream: namespace },
        'linking a cached blob failed',
      );
      return false;
    } finally {
      if (staged && !verified) await staged.discard();
      done();
      spool.release();
    }
  }

  /**
   * Streams the body into the spool, hashing it; resolves whether it is complete and has the
   * digest. The spool ends either way: finished, or failed with the reason (which readers get).
   */
  async #download(
    services: ProxyServices,
    target: ProxyTarget,
    parsed: ParsedDigest,
    response: UpstreamResponse & { size: number | undefined },
  ): Promise<boolean> {
    const spool = this.#spool!;
    const { ctx } = services;
    const namespace = target.upstream.client.config.namespace;
    try {
      const hasher = await createHasher(parsed.algorithm);
      const max = Math.min(response.size ?? Number.POSITIVE_INFINITY, ctx.limits.blobMaxBytes);
      await response.body.consume((chunk) => {
        if (spool.written + chunk.byteLength > max) {
          throw new UpstreamError(namespace, 'invalid', `sent more than ${max} bytes for ${this.digest}`);
        }
        hasher.update(chunk);
        // Usually nothing to wait for: the spool writes its file in the background.
        return spool.write(chunk);
      });
      if (response.size !== undefined && spool.written !== response.size) {
        throw new UpstreamError(
          namespace,
          'invalid',
          `sent ${spool.written} of ${response.size} bytes of ${this.digest}`,
        );
      }
      const computed = hasher.digest();
      if (computed !== this.digest) {
        throw new UpstreamError(
          namespace,
          'invalid',
          `sent content with digest ${computed} for ${this.digest}`,
        );
      }
      await spool.finish();
      return true;
    } catch (error) {
      const failure =
        error instanceof UpstreamError
          ? error
          : new UpstreamError(namespace, 'invalid', `the download failed (${(error as Error)?.message})`, {
              cause: error,
            });
      ctx.logger.warn(
        { err: failure, digest: this.digest, upstream: namespace },
        'a blob download from an upstream failed',
      );
      spool.fail(failure);
      return false;
    }
  }

  /** Makes the verified spool file the blob: once its background syncs succeeded, by a rename. */
  async #commit(spool: Spool, staged: StagedBlob): Promise<boolean> {
    try {
      await spool.synced();
    } catch (error) {
      await staged.discard();
      throw error;
    }
    await staged.commit(this.digest);
    return true;
  }
}
