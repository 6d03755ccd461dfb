import { createHash } from 'node:crypto';

/** The part of `fetch` the publisher needs; `fetch` itself and `registry.fetch` both fit. */
export type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/** What to publish: an image config and its (already compressed) layers. */
export interface PublishOptions {
  /** Registry base URL, e.g. `https://registry.example.com`. */
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
  readonly config: object;
  readonly layers: readonly Uint8Array[];
  /** Default: the global `fetch`. */
  readonly fetch?: Fetch;
}

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

async function expectStatus(res: Response, status: number, what: string): Promise<void> {
  if (res.status === status) return;
  const body = await res.text();
  throw new Error(`${what}: registry answered ${res.status} ${body}`);
}

/**
 * Publishes an OCI image: uploads each blob the registry lacks (POST, then PUT with the digest),
 * then the manifest under `tag`. Resolves the manifest digest.
 */
export async function publishImage(options: PublishOptions): Promise<string> {
  const fetchImpl = options.fetch ?? ((url, init) => fetch(url, init));
  const base = options.registry.replace(/\/$/, '');
  const repo = `${base}/v2/${options.repository}`;

  const config = Buffer.from(JSON.stringify(options.config));
  const descriptor = (mediaType: string, bytes: Uint8Array) => ({
    mediaType,
    digest: digestOf(bytes),
    size: bytes.byteLength,
  });
  const blobs = [
    descriptor('application/vnd.oci.image.config.v1+json', config),
    ...options.layers.map((layer) => descriptor('application/vnd.oci.image.layer.v1.tar+gzip', layer)),
  ];
  const contents = [config, ...options.layers];

  for (const [i, blob] of blobs.entries()) {
    const head = await fetchImpl(`${repo}/blobs/${blob.digest}`, { method: 'HEAD' });
    if (head.status === 200) continue;
    const start = await fetchImpl(`${repo}/blobs/uploads/`, { method: 'POST' });
    await expectStatus(start, 202, 'starting an upload');
    const location = new URL(start.headers.get('location') ?? '', `${base}/`);
    location.searchParams.set('digest', blob.digest);
    const put = await fetchImpl(location.toString(), {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: contents[i],
    });
    await expectStatus(put, 201, `uploading ${blob.digest}`);
  }

  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config: blobs[0], layers: blobs.slice(1) }),
  );
  const res = await fetchImpl(`${repo}/manifests/${options.tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': MANIFEST },
    body: manifest,
  });
  await expectStatus(res, 201, 'pushing the manifest');
  return res.headers.get('docker-content-digest') ?? digestOf(manifest);
}
