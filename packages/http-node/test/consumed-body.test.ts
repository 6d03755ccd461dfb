import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistry, type LogFields } from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { makeImage, OciClient, randomContent } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A host that reads every request body (as a broad body parser does) before the registry sees it. */
async function serveBehindParser() {
  const errors: Array<{ fields: LogFields; message: string }> = [];
  const registry = createRegistry({
    logger: { error: (fields, message) => errors.push({ fields, message }) },
  });
  const handler = createHandler(registry);
  const server = createServer(async (req: IncomingMessage, res) => {
    for await (const _ of req) {
      // a parser reading the body
    }
    handler(req, res);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { registry, errors, client: new OciClient(url) };
}

describe('a request body read before the registry', () => {
  it('gets a 500 that says why, logged once with the error, and stores nothing', async () => {
    const { errors, client } = await serveBehindParser();
    const image = makeImage();
    const res = await client.putManifest('repo', 'v1', image.manifest, image.mediaType);
    expect(res.status).toBe(500);
    const requestId = res.headers.get('x-request-id');
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]!.code).toBe('UNKNOWN');
    expect(body.errors[0]!.message).toMatch(
      /already read by middleware .* mount the registry before body-parsing/,
    );
    expect((await client.request('GET', '/v2/repo/manifests/v1')).status).toBe(404);

    expect(errors).toHaveLength(1);
    const { fields, message } = errors[0]!;
    expect(message).toBe('request failed');
    expect(fields).toMatchObject({
      reqId: requestId,
      method: 'PUT',
      path: '/v2/repo/manifests/v1',
      status: 500,
    });
    expect((fields.err as Error).message).toMatch(/body-parsing middleware/);
    expect((fields.err as Error).stack).toMatch(/\n\s+at /);
  });

  it('leaves an upload session unchanged', async () => {
    const { registry, client } = await serveBehindParser();
    const location = await client.startUpload('repo');
    const id = new URL(location).pathname.split('/').pop()!;
    const patch = await client.request('PATCH', location, { body: randomContent(1000).bytes });
    expect(patch.status).toBe(500);
    expect((await registry.storage.uploads.get(id))?.size).toBe(0);
    const { bytes, digest } = randomContent(1000);
    const post = await client.request('POST', `/v2/repo/blobs/uploads/?digest=${digest}`, { body: bytes });
    expect(post.status).toBe(500);
    expect(await registry.storage.blobs.stat(digest)).toBeNull();
  });
});
