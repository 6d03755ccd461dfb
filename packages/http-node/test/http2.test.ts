import { once } from 'node:events';
import {
  type ClientHttp2Session,
  connect,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createRegistry, type Registry } from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { type FetchLike, makeImage, OciClient, randomContent } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fetch over one HTTP/2 session; bodies are sent without `Content-Length` unless given. */
function http2Fetch(session: ClientHttp2Session): FetchLike {
  return async (input, init = {}) => {
    const url = new URL(input);
    const headers: OutgoingHttpHeaders = {
      ':method': init.method ?? 'GET',
      ':path': `${url.pathname}${url.search}`,
    };
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const body = init.body == null ? null : Buffer.from(await new Response(init.body).arrayBuffer());
    const stream = session.request(headers, { endStream: body === null });
    if (body !== null) stream.end(body);
    const [answer] = (await once(stream, 'response')) as [IncomingHttpHeaders];
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const status = Number(answer[':status']);
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(answer)) {
      if (name.startsWith(':') || value === undefined) continue;
      for (const item of Array.isArray(value) ? value : [String(value)]) responseHeaders.append(name, item);
    }
    const empty = status === 204 || status === 304 || init.method === 'HEAD';
    return new Response(empty ? null : Buffer.concat(chunks), { status, headers: responseHeaders });
  };
}

async function serve(): Promise<{ registry: Registry; url: string; client: OciClient }> {
  const registry = createRegistry();
  // Typed as an http2 request listener without casts: what `createSecureServer` accepts too.
  const server: Http2Server = createServer(createHandler(registry));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const session = connect(url);
  cleanups.push(async () => {
    session.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { registry, url, client: new OciClient(url, http2Fetch(session)) };
}

describe('http2 compatibility server', () => {
  it.each(['single-post', 'chunked', 'stream'] as const)(
    'pushes and pulls an image (%s uploads)',
    async (mode) => {
      const { client } = await serve();
      const image = makeImage({ layers: [300_000, 10] });
      await client.pushImage('lib/app', 'v1', image, mode);
      await client.pullImage('lib/app', 'v1', image);
      expect(await client.tags('lib/app')).toEqual(['v1']);
    },
  );

  it('reads bodies sent without Content-Length (HTTP/2 frames carry no length)', async () => {
    const { client, registry } = await serve();
    const { bytes, digest } = randomContent(200_000);
    const res = await client.request('POST', `/v2/repo/blobs/uploads/?digest=${digest}`, { body: bytes });
    expect(res.status).toBe(201);
    expect((await registry.storage.blobs.stat(digest))?.size).toBe(bytes.byteLength);
    expect((await client.getBlob('repo', digest)).equals(bytes)).toBe(true);
  });

  it('answers HEAD with headers only', async () => {
    const { client } = await serve();
    const { bytes, digest } = randomContent(5000);
    await client.pushBlob('repo', bytes);
    const res = await client.request('HEAD', `/v2/repo/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('5000');
    expect(res.headers.get('docker-content-digest')).toBe(digest);
  });

  it('discards an upload whose connection drops mid-body, and keeps serving', async () => {
    const { client, registry, url } = await serve();
    const session = connect(url);
    const location = new URL(await client.startUpload('repo')).pathname;
    const id = location.split('/').pop()!;
    const stream = session.request({ ':method': 'PATCH', ':path': location }, { endStream: false });
    stream.write(randomContent(100_000).bytes);
    await new Promise((resolve) => setTimeout(resolve, 50));
    stream.on('error', () => {});
    session.destroy();
    for (let i = 0; i < 100 && (await registry.storage.uploads.get(id))?.size !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await registry.storage.uploads.get(id))?.size).toBe(0);
    expect((await client.request('GET', '/v2/')).status).toBe(200);
  });
});
