import { once } from 'node:events';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import {
  type BlobStore,
  createMemoryStorage,
  createRegistry,
  type Registry,
  type RegistryOptions,
  type RegistryStorage,
} from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { makeImage, OciClient, randomContent } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';

const servers: Server[] = [];

async function serve(
  options: RegistryOptions = {},
): Promise<{ registry: Registry; url: string; port: number; client: OciClient }> {
  const registry = createRegistry(options);
  const server = createServer(createHandler(registry));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return { registry, url, port, client: new OciClient(url) };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Sends raw bytes on a fresh connection and collects everything until the server closes or `until` matches. */
async function rawExchange(
  port: number,
  data: string | Buffer,
  until?: (text: string) => boolean,
): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(data);
  let text = '';
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (until?.(text)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('close', () => resolve(text));
  });
}

/** Polls until `check` passes (state changes that follow a disconnect happen asynchronously). */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never happened: ${what}`);
}

describe('node:http adapter', () => {
  it('serves a full push and pull over a real socket', async () => {
    const { client } = await serve();
    const image = makeImage({ layers: [2_000_000, 10] });
    await client.pushImage('lib/app', 'v1', image, 'chunked');
    await client.pullImage('lib/app', 'v1', image);
    expect(await client.tags('lib/app')).toEqual(['v1']);
  });

  it('streams request bodies without Content-Length (chunked transfer encoding)', async () => {
    const { client } = await serve();
    const { bytes, digest } = randomContent(3_000_000);
    const location = await client.startUpload('repo');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.byteLength; i += 100_000)
          controller.enqueue(bytes.subarray(i, i + 100_000));
        controller.close();
      },
    });
    const patch = await client.request('PATCH', location, { body });
    expect(patch.status).toBe(202);
    expect(patch.headers.get('range')).toBe(`0-${bytes.byteLength - 1}`);
    expect((await client.request('PUT', `${client.location(patch)}?digest=${digest}`)).status).toBe(201);
    expect((await client.getBlob('repo', digest)).equals(bytes)).toBe(true);
  });

  it('sends HEAD responses with headers only, keeping the connection usable', async () => {
    const { client, port } = await serve();
    const { bytes, digest } = randomContent(5000);
    await client.pushBlob('repo', bytes);
    const text = await rawExchange(
      port,
      `HEAD /v2/repo/blobs/${digest} HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    const end = text.indexOf('\r\n\r\n');
    const head = text.slice(0, end);
    const rest = text.slice(end + 4);
    expect(head).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(head).toMatch(/\r\nContent-Length: 5000\r\n/i);
    expect(head).toMatch(new RegExp(`\\r\\nDocker-Content-Digest: ${digest}`, 'i'));
    // The very next bytes are the second response: HEAD carried no body.
    expect(rest.startsWith('HTTP/1.1 200 OK')).toBe(true);
    expect(rest.endsWith('{}')).toBe(true);
  });

  it('sends repeated headers (OCI-Tag) as separate header lines', async () => {
    const { client, port } = await serve();
    const image = makeImage();
    for (const blob of [image.config, ...image.layers]) await client.pushBlob('repo', blob.bytes);
    const body = image.manifest.bytes;
    const text = await rawExchange(
      port,
      Buffer.concat([
        Buffer.from(
          `PUT /v2/repo/manifests/${image.manifest.digest}?tag=a&tag=b HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: ${image.mediaType}\r\nContent-Length: ${body.byteLength}\r\n\r\n`,
        ),
        body,
      ]),
    );
    expect(text).toMatch(/^HTTP\/1\.1 201 Created/);
    expect(text.match(/\r\nOCI-Tag: [ab](?=\r\n)/gi)).toHaveLength(2);
  });

  it('aborts cleanly when a client disconnects mid-upload: no bytes staged, no blob, server healthy', async () => {
    const { client, port, registry } = await serve();
    const location = new URL(await client.startUpload('repo')).pathname;
    const id = location.split('/').pop()!;
    const { bytes, digest } = randomContent(1_000_000);
    for (const [method, target] of [
      ['PATCH', location],
      ['POST', `/v2/repo/blobs/uploads/?digest=${digest}`],
      ['PUT', `${location}?digest=${digest}`],
    ] as const) {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(`${method} ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n`);
      socket.write(bytes);
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.destroy();
    }
    await eventually(async () => (await registry.storage.uploads.get(id))?.size === 0, 'session unchanged');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await registry.storage.uploads.get(id))?.size).toBe(0);
    expect(await registry.storage.blobs.stat(digest)).toBeNull();
    // The session is still usable and the server still answers.
    const status = await client.request('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0');
    expect((await client.request('GET', '/v2/')).status).toBe(200);
  });

  it('applies backpressure to blob downloads: a stalled reader stops the store stream', async () => {
    const storage = createMemoryStorage();
    const CHUNK = 64 * 1024;
    const TOTAL = 2048; // 128 MiB if fully pulled
    let pulled = 0;
    let released = false;
    const blobs: BlobStore = {
      stat: async (digest) => ({ digest, size: CHUNK * TOTAL }),
      open: async () =>
        (async function* () {
          try {
            const chunk = new Uint8Array(CHUNK);
            for (let i = 0; i < TOTAL; i++) {
              pulled++;
              yield chunk;
            }
          } finally {
            released = true;
          }
        })(),
      put: (d, s, o) => storage.blobs.put(d, s, o),
      delete: (d) => storage.blobs.delete(d),
      list: () => storage.blobs.list(),
    };
    const { digest } = randomContent(1);
    await storage.metadata.linkBlob('repo', digest);
    const { port } = await serve({ storage: { ...storage, blobs } as RegistryStorage });
    const req = httpRequest({ host: '127.0.0.1', port, path: `/v2/repo/blobs/${digest}` });
    req.end();
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    expect(res.statusCode).toBe(200);
    res.pause();
    // Wait until the producer stops advancing, then check it stopped far short of the end.
    let last = -1;
    while (last !== pulled) {
      last = pulled;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(pulled).toBeLessThan(TOTAL / 4);
    res.destroy();
    await eventually(async () => released, 'the store stream is released after the client goes away');
  });

  it('passes requests outside /v2 to next() when mounted as middleware', async () => {
    const registry = createRegistry();
    const handler = createHandler(registry);
    const server = createServer((req, res) =>
      handler(req, res, () => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('host app');
      }),
    );
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).text()).toBe('host app');
    expect((await fetch(`http://127.0.0.1:${port}/v2/`)).status).toBe(200);
  });

  it('handles Expect: 100-continue uploads', async () => {
    const { port, client } = await serve();
    const { bytes, digest } = randomContent(100_000);
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: `/v2/repo/blobs/uploads/?digest=${digest}`,
      headers: { Expect: '100-continue', 'Content-Length': String(bytes.byteLength) },
    });
    req.on('continue', () => req.end(bytes));
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    res.resume();
    expect(res.statusCode).toBe(201);
    expect((await client.getBlob('repo', digest)).equals(bytes)).toBe(true);
  });

  it('hands the IncomingMessage to the authorize hook as context', async () => {
    let user: unknown;
    const { url } = await serve({
      authorize: ({ request }) => {
        user = (request.context as import('node:http').IncomingMessage).headers['x-user'];
        return true;
      },
    });
    await fetch(`${url}/v2/`, { headers: { 'x-user': 'alice' } });
    expect(user).toBe('alice');
  });
});
