import type { Content, TestImage } from './image.js';
import { sha256 } from './image.js';

/** `fetch`, or a registry's in-process `fetch`. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/**
 * A {@link FetchLike} that adds `Authorization: <authorization>` to every request's headers (which
 * must be a plain object, as {@link OciClient} passes them) and sends it through `fetchImpl`
 * (default: the global `fetch`).
 */
export function withAuthorization(
  authorization: string,
  fetchImpl: FetchLike = (input, init) => fetch(input, init),
): FetchLike {
  return (input, init) =>
    fetchImpl(input, {
      ...init,
      headers: { ...(init?.headers as Record<string, string>), Authorization: authorization },
    });
}

/** How {@link OciClient.pushBlob} uploads. */
export type PushMode = 'single-post' | 'post-put' | 'chunked' | 'stream';

/**
 * A deliberately small OCI distribution client for tests: every step is a plain request, so
 * tests can also make each step fail on purpose.
 */
export class OciClient {
  readonly base: string;
  readonly #fetch: FetchLike;

  /** `base` is `http://host:port`, or `http://registry.local` for an in-process registry. */
  constructor(base: string, fetchImpl: FetchLike = (input, init) => fetch(input, init)) {
    this.base = base.replace(/\/$/, '');
    this.#fetch = fetchImpl;
  }

  /** A request to a path (`/v2/...`) or to an absolute URL (a `Location`). */
  request(method: string, pathOrUrl: string, init: RequestInit = {}): Promise<Response> {
    const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${this.base}${pathOrUrl}`;
    const body = init.body;
    return this.#fetch(url, {
      ...init,
      method,
      ...(body && !(typeof body === 'string' || body instanceof Uint8Array) ? { duplex: 'half' } : {}),
    } as RequestInit);
  }

  /** Resolves a `Location` header against the registry. */
  location(response: Response): string {
    const location = response.headers.get('location');
    if (!location) throw new Error(`no Location header (status ${response.status})`);
    return new URL(location, `${this.base}/`).toString();
  }

  /** Starts an upload session and returns its location. */
  async startUpload(repo: string, query = ''): Promise<string> {
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/${query}`);
    await res.arrayBuffer();
    if (res.status !== 202) throw new Error(`POST upload: ${res.status}`);
    return this.location(res);
  }

  /** Uploads a blob and returns its digest; throws unless the registry answers 201. */
  async pushBlob(
    repo: string,
    bytes: Uint8Array,
    mode: PushMode = 'post-put',
    chunkSize = 1 << 20,
  ): Promise<string> {
    const digest = sha256(bytes);
    const q = `digest=${encodeURIComponent(digest)}`;
    let res: Response;
    if (mode === 'single-post') {
      res = await this.request('POST', `/v2/${repo}/blobs/uploads/?${q}`, {
        body: bytes,
        headers: { 'Content-Type': 'application/octet-stream' },
      });
    } else {
      let location = await this.startUpload(repo);
      if (mode === 'post-put') {
        res = await this.request('PUT', withQuery(location, q), {
          body: bytes,
          headers: { 'Content-Type': 'application/octet-stream' },
        });
      } else {
        if (mode === 'stream') {
          // Docker's flow: one PATCH without Content-Range, then an empty PUT.
          const patch = await this.request('PATCH', location, {
            body: bytes,
            headers: { 'Content-Type': 'application/octet-stream' },
          });
          await patch.arrayBuffer();
          if (patch.status !== 202) throw new Error(`PATCH: ${patch.status}`);
          location = this.location(patch);
        } else {
          for (let offset = 0; offset < bytes.byteLength; offset += chunkSize) {
            const chunk = bytes.subarray(offset, Math.min(offset + chunkSize, bytes.byteLength));
            const patch = await this.request('PATCH', location, {
              body: chunk,
              headers: {
                'Content-Type': 'application/octet-stream',
                'Content-Range': `${offset}-${offset + chunk.byteLength - 1}`,
              },
            });
            await patch.arrayBuffer();
            if (patch.status !== 202) throw new Error(`PATCH at ${offset}: ${patch.status}`);
            location = this.location(patch);
          }
        }
        res = await this.request('PUT', withQuery(location, q), { headers: { 'Content-Length': '0' } });
      }
    }
    const text = await res.text();
    if (res.status !== 201) throw new Error(`blob push (${mode}) answered ${res.status}: ${text}`);
    return digest;
  }

  /** Pushes a manifest; resolves the response (status unchecked). */
  async putManifest(
    repo: string,
    reference: string,
    manifest: Content | Uint8Array,
    mediaType: string,
  ): Promise<Response> {
    const bytes = manifest instanceof Uint8Array ? manifest : manifest.bytes;
    return this.request('PUT', `/v2/${repo}/manifests/${reference}`, {
      body: bytes,
      headers: { 'Content-Type': mediaType },
    });
  }

  /** Pushes an image's blobs and manifest under a tag; throws unless every step succeeds. */
  async pushImage(repo: string, tag: string, image: TestImage, mode: PushMode = 'post-put'): Promise<string> {
    for (const blob of [image.config, ...image.layers]) await this.pushBlob(repo, blob.bytes, mode);
    const res = await this.putManifest(repo, tag, image.manifest, image.mediaType);
    const text = await res.text();
    if (res.status !== 201) throw new Error(`manifest push answered ${res.status}: ${text}`);
    return image.manifest.digest;
  }

  /** Downloads a blob; throws unless 200. */
  async getBlob(repo: string, digest: string): Promise<Buffer> {
    const res = await this.request('GET', `/v2/${repo}/blobs/${digest}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`blob GET answered ${res.status}: ${bytes.toString()}`);
    return bytes;
  }

  /** Downloads a manifest; throws unless 200. */
  async getManifest(
    repo: string,
    reference: string,
  ): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const res = await this.request('GET', `/v2/${repo}/manifests/${reference}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`manifest GET answered ${res.status}: ${bytes.toString()}`);
    return {
      bytes,
      mediaType: res.headers.get('content-type') ?? '',
      digest: res.headers.get('docker-content-digest') ?? '',
    };
  }

  /** Pulls an image by tag and checks every digest; throws on any mismatch. */
  async pullImage(repo: string, tag: string, image: TestImage): Promise<void> {
    const manifest = await this.getManifest(repo, tag);
    if (!manifest.bytes.equals(image.manifest.bytes)) throw new Error('manifest bytes differ');
    for (const blob of [image.config, ...image.layers]) {
      const bytes = await this.getBlob(repo, blob.digest);
      if (sha256(bytes) !== blob.digest) throw new Error(`blob ${blob.digest} differs`);
    }
  }

  /** The repository's tags; throws unless 200. */
  async tags(repo: string): Promise<string[]> {
    const res = await this.request('GET', `/v2/${repo}/tags/list`);
    const body = (await res.json()) as { tags?: string[] };
    if (res.status !== 200) throw new Error(`tags list answered ${res.status}`);
    return body.tags ?? [];
  }
}

function withQuery(location: string, query: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}${query}`;
}
