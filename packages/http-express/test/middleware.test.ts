import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import {
  type BlobStore,
  createMemoryStorage,
  createRegistry,
  type LogFields,
  type Registry,
  type RegistryOptions,
  type RegistryStorage,
} from '@wharf/core';
import { wharf } from '@wharf/http-express';
import { makeImage, OciClient, randomContent, sha256 } from '@wharf/test-utils';
import compression from 'compression';
import express5 from 'express';
import express4 from 'express4';
import morgan from 'morgan';
import { afterEach, describe, expect, it } from 'vitest';
import {
  basic,
  closeAll,
  type ErrorHandler,
  eventually,
  exchange,
  type Flavor,
  flavors,
  type Handler,
  type HostApp,
  listen,
  rawExchange,
} from './helpers.js';

afterEach(closeAll);

interface AuthedRequest extends IncomingMessage {
  user?: string;
}

/** The host's own auth: `alice`/`bob` with password `secret`; sets `req.user`, never rejects. */
const hostAuth: Handler = (req, _res, next) => {
  const header = req.headers.authorization ?? '';
  if (header.startsWith('Basic ')) {
    const [user, password] = Buffer.from(header.slice(6), 'base64').toString().split(':');
    if (password === 'secret' && (user === 'alice' || user === 'bob')) (req as AuthedRequest).user = user;
  }
  next();
};

/** Pull for any signed-in user, push and delete to `<user>/*` only. */
const namespaceAuth: NonNullable<RegistryOptions['authorize']> = ({ action, repository, request }) => {
  const user = (request.context as AuthedRequest).user;
  if (!user) return { allow: false, status: 401, challenge: 'Basic realm="host"' };
  if (action === 'push' || action === 'delete') return repository?.startsWith(`${user}/`) ?? false;
  return true;
};

/** A host app with its own routes and, when asked, the usual global middleware before wharf. */
function hostApp(
  flavor: Flavor,
  registry: Registry,
  options: { middleware?: boolean; log?: string[]; errors?: unknown[] } = {},
): HostApp {
  const app = flavor.app();
  if (options.middleware) {
    const log = options.log ?? [];
    // Both are typed against Express's own request types; they run on any node:http request.
    app.use(
      morgan('tiny', {
        stream: { write: (line: string) => void log.push(`morgan ${line.trim()}`) },
      }) as Handler,
    );
    const logger: Handler = (req, res, next) => {
      res.on('finish', () => log.push(`custom ${req.method} ${req.url} ${res.statusCode}`));
      next();
    };
    app.use(logger);
    app.use(compression() as unknown as Handler);
    app.use(flavor.json());
    app.use(flavor.urlencoded());
    app.use(hostAuth);
  }
  app.get('/hello', (_req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end('hello from the host');
  });
  app.get('/big', (_req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end('x'.repeat(100_000));
  });
  app.post('/echo', (req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify((req as IncomingMessage & { body?: unknown }).body ?? null));
  });
  app.use(wharf(registry));
  const errorPage: ErrorHandler = (error, _req, res) => {
    options.errors?.push(error);
    res.statusCode = 500;
    res.setHeader('Content-Type', 'text/html');
    res.end('<html>host error page</html>');
  };
  app.use(errorPage);
  return app;
}

describe.each(flavors)('wharf() on $name', (flavor) => {
  it('serves a registry next to the host routes, which still answer', async () => {
    const registry = createRegistry();
    const { url } = await listen(hostApp(flavor, registry));
    const client = new OciClient(url);
    const image = makeImage({ layers: [1_500_000, 10] });
    await client.pushImage('lib/app', 'v1', image, 'chunked');
    await client.pullImage('lib/app', 'v1', image);
    expect(await (await fetch(`${url}/hello`)).text()).toBe('hello from the host');
    const ping = await fetch(`${url}/v2/`);
    expect(ping.status).toBe(200);
    expect(ping.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    // Unknown non-registry paths are the host's (Express's 404), registry-looking ones are not.
    expect((await fetch(`${url}/nothing-here`)).headers.get('docker-distribution-api-version')).toBeNull();
    expect((await fetch(`${url}/v2`)).status).toBe(200);
  });

  it('works inside a Router, and when mounted at /v2', async () => {
    const registry = createRegistry();
    const router = flavor.router();
    router.use(wharf(registry));
    const app = flavor.app();
    app.use(router);
    const viaRouter = new OciClient((await listen(app)).url);
    const image = makeImage();
    await viaRouter.pushImage('lib/app', 'v1', image, 'post-put');

    const mounted = flavor.app();
    mounted.use('/v2', wharf(registry));
    mounted.get('/hello', (_req, res) => res.end('host'));
    const { url } = await listen(mounted);
    const viaMount = new OciClient(url);
    await viaMount.pullImage('lib/app', 'v1', image);
    await viaMount.pushImage('lib/other', 'v2', makeImage(), 'chunked');
    expect(await viaMount.tags('lib/other')).toEqual(['v2']);
    expect(await (await fetch(`${url}/hello`)).text()).toBe('host');
  });

  it('pushes and pulls byte-exact behind json, urlencoded, compression, morgan, a logger and auth', async () => {
    const registry = createRegistry({ authorize: namespaceAuth });
    const log: string[] = [];
    const { url, port } = await listen(hostApp(flavor, registry, { middleware: true, log }));
    const auth = { Authorization: basic('alice', 'secret') };
    const client = new OciClient(url, (input, init) =>
      fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...auth } }),
    );
    const image = makeImage({ layers: [3_000_000, 5_000, 100, 1, 2, 3, 4, 5, 6, 7] });
    expect(image.manifest.bytes.byteLength).toBeGreaterThan(1024); // above compression()'s threshold
    for (const [i, mode] of (['single-post', 'post-put', 'chunked', 'stream'] as const).entries()) {
      await client.pushImage(`alice/app${i}`, 'v1', image, mode);
      await client.pullImage(`alice/app${i}`, 'v1', image);
    }

    // Manifests are compressible media types, yet come back untransformed with their exact length.
    const manifest = await exchange(port, 'GET', '/v2/alice/app0/manifests/v1', {
      ...auth,
      'Accept-Encoding': 'gzip, br',
      Accept: image.mediaType,
    });
    expect(manifest.status).toBe(200);
    expect(manifest.headers['content-encoding']).toBeUndefined();
    expect(manifest.headers['content-length']).toBe(String(image.manifest.bytes.byteLength));
    expect(manifest.headers['cache-control']).toMatch(/no-transform/);
    expect(manifest.body.equals(image.manifest.bytes)).toBe(true);
    const layer = image.layers[0]!;
    const blob = await exchange(port, 'GET', `/v2/alice/app0/blobs/${layer.digest}`, {
      ...auth,
      'Accept-Encoding': 'gzip',
    });
    expect(blob.headers['content-encoding']).toBeUndefined();
    expect(blob.headers['content-length']).toBe(String(layer.bytes.byteLength));
    expect(blob.headers['cache-control']).toBe('max-age=31536000, no-transform');
    expect(blob.body.equals(layer.bytes)).toBe(true);

    // The host's middleware still does its job on the host's routes.
    const big = await exchange(port, 'GET', '/big', { 'Accept-Encoding': 'gzip' });
    expect(big.headers['content-encoding']).toBe('gzip');
    const echo = await fetch(`${url}/echo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ a: 1 }),
    });
    expect(await echo.json()).toEqual({ a: 1 });
    const form = await fetch(`${url}/echo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'b=2',
    });
    expect(await form.json()).toEqual({ b: '2' });
    // Both loggers saw the registry's requests with their real status codes.
    expect(log).toContain('custom PUT /v2/alice/app0/manifests/v1 201');
    expect(log.some((line) => /^morgan GET \/v2\/alice\/app0\/manifests\/v1 200 /.test(line))).toBe(true);
  });

  it('answers HEAD with headers only and the real Content-Length, behind compression', async () => {
    const registry = createRegistry();
    const { url, port } = await listen(hostApp(flavor, registry, { middleware: true }));
    const { bytes, digest } = randomContent(200_000);
    await new OciClient(url).pushBlob('repo', bytes);
    const text = await rawExchange(
      port,
      `HEAD /v2/repo/blobs/${digest} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n` +
        'GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const end = text.indexOf('\r\n\r\n');
    const head = text.slice(0, end);
    const rest = text.slice(end + 4);
    expect(head).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(head).toMatch(/\r\nContent-Length: 200000\r\n/i);
    expect(head).toMatch(new RegExp(`\\r\\nDocker-Content-Digest: ${digest}\\r\\n`, 'i'));
    expect(head).not.toMatch(/content-encoding|transfer-encoding/i);
    // The very next bytes are the second response: HEAD carried no body.
    expect(rest.startsWith('HTTP/1.1 200 OK')).toBe(true);
  });

  it('answers byte ranges with 206, behind compression', async () => {
    const registry = createRegistry();
    const { url, port } = await listen(hostApp(flavor, registry, { middleware: true }));
    const { bytes, digest } = randomContent(100_000);
    await new OciClient(url).pushBlob('repo', bytes);
    const res = await exchange(port, 'GET', `/v2/repo/blobs/${digest}`, {
      Range: 'bytes=1000-50999',
      'Accept-Encoding': 'gzip',
    });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe('bytes 1000-50999/100000');
    expect(res.headers['content-length']).toBe('50000');
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.body.equals(bytes.subarray(1000, 51000))).toBe(true);
  });

  it('survives a client that disconnects mid-upload: the session does not grow, the app still answers', async () => {
    const registry = createRegistry();
    const { url, port } = await listen(hostApp(flavor, registry, { middleware: true }));
    const client = new OciClient(url);
    const location = new URL(await client.startUpload('repo')).pathname;
    const id = location.split('/').pop()!;
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      `PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n`,
    );
    socket.write(randomContent(1_000_000).bytes);
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    await eventually(async () => (await registry.storage.uploads.get(id))?.size === 0, 'session unchanged');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await registry.storage.uploads.get(id))?.size).toBe(0);
    const status = await client.request('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0');
    // The same session can still be completed, and the host still answers.
    const { bytes, digest } = randomContent(10_000);
    const put = await client.request('PUT', `${location}?digest=${digest}`, { body: bytes });
    expect(put.status).toBe(201);
    expect((await client.getBlob('repo', digest)).equals(bytes)).toBe(true);
    expect(await (await fetch(`${url}/hello`)).text()).toBe('hello from the host');
  });

  it("passes the host's req.user to authorize: 401 with a challenge, 403 outside the namespace", async () => {
    const registry = createRegistry({ authorize: namespaceAuth });
    const { url } = await listen(hostApp(flavor, registry, { middleware: true }));
    const anonymous = await fetch(`${url}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="host"');
    expect(anonymous.headers.get('content-type')).toBe('application/json');
    expect(((await anonymous.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe(
      'UNAUTHORIZED',
    );
    const wrongPassword = await fetch(`${url}/v2/`, { headers: { Authorization: basic('alice', 'nope') } });
    expect(wrongPassword.status).toBe(401);

    const as = (user: string) =>
      new OciClient(url, (input, init) =>
        fetch(input, {
          ...init,
          headers: { ...(init?.headers as Record<string, string>), Authorization: basic(user, 'secret') },
        }),
      );
    const image = makeImage();
    await as('alice').pushImage('alice/app', 'v1', image);
    await as('bob').pullImage('alice/app', 'v1', image);
    const denied = await as('bob').request('POST', '/v2/alice/app/blobs/uploads/');
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('DENIED');
    const deleteDenied = await as('bob').request(
      'DELETE',
      `/v2/alice/app/manifests/${image.manifest.digest}`,
    );
    expect(deleteDenied.status).toBe(403);
  });

  it('hands authorize whatever the context option returns', async () => {
    const seen: unknown[] = [];
    const registry = createRegistry({
      authorize: ({ request }) => {
        seen.push(request.context);
        return true;
      },
    });
    const app = flavor.app();
    const tenant: Handler = (_req, res, next) => {
      (res as unknown as { locals: Record<string, unknown> }).locals.tenant = 'acme';
      next();
    };
    app.use(tenant);
    app.use(
      wharf(registry, {
        context: (req, res) => ({
          tenant: (res as unknown as { locals: Record<string, unknown> }).locals.tenant,
          path: req.url,
        }),
      }),
    );
    const { url } = await listen(app);
    expect((await fetch(`${url}/v2/`)).status).toBe(200);
    expect(seen).toEqual([{ tenant: 'acme', path: '/v2/' }]);
  });

  it('sends registry errors as JSON, never to the host error page', async () => {
    const storage = createMemoryStorage();
    // A backend failure: every blob lookup throws.
    const blobs: BlobStore = {
      stat: async () => Promise.reject(new Error('disk on fire')),
      open: (...args) => storage.blobs.open(...args),
      put: (...args) => storage.blobs.put(...args),
      delete: (...args) => storage.blobs.delete(...args),
      list: (...args) => storage.blobs.list(...args),
    };
    const errors: unknown[] = [];
    const registry = createRegistry({ storage: { ...storage, blobs } as RegistryStorage });
    const { url } = await listen(hostApp(flavor, registry, { middleware: true, errors }));
    for (const [path, status, code] of [
      ['/v2/lib/app/manifests/latest', 404, 'MANIFEST_UNKNOWN'],
      ['/v2/Bad_Name/tags/list', 400, 'NAME_INVALID'],
      [`/v2/lib/app/blobs/${randomContent(1).digest}`, 500, 'UNKNOWN'],
    ] as const) {
      const res = await fetch(`${url}${path}`);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/json');
      const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
      expect(body.errors[0]!.code).toBe(code);
      expect(body.errors[0]!.message).not.toMatch(/disk on fire/);
    }
    expect(errors).toEqual([]);
    // The host's error page is still in place for the host's own failures.
    expect(await (await fetch(`${url}/nothing-here`)).text()).not.toMatch(/errors/);
  });

  it('rejects, loudly and in JSON, a request whose body a broad body parser already consumed', async () => {
    const errors: Array<{ fields: LogFields; message: string }> = [];
    const registry = createRegistry({
      logger: { error: (fields, message) => errors.push({ fields, message }) },
    });
    const app = flavor.app();
    app.use(flavor.json({ type: '*/*' }));
    app.use(wharf(registry));
    const { url } = await listen(app);
    const client = new OciClient(url);
    const image = makeImage();
    for (const blob of [image.config, ...image.layers]) {
      // Blobs reach the registry only because the parser's JSON parse fails first: that error is
      // the host's; what matters is that nothing half-read is ever stored.
      await client.pushBlob('repo', blob.bytes).catch(() => undefined);
    }
    const res = await client.putManifest('repo', 'v1', image.manifest, image.mediaType);
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]!.code).toBe('UNKNOWN');
    expect(body.errors[0]!.message).toMatch(/mount the registry before body-parsing middleware/);
    expect((await client.request('GET', '/v2/repo/manifests/v1')).status).toBe(404);
    // One log line for the 500: the request, and an error that says what happened and what to do.
    const failed = errors.filter((line) => line.fields.path === '/v2/repo/manifests/v1');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.message).toBe('request failed');
    expect(failed[0]!.fields).toMatchObject({
      reqId: res.headers.get('x-request-id'),
      method: 'PUT',
      status: 500,
    });
    expect((failed[0]!.fields.err as Error).message).toMatch(/already read by middleware/);

    const rawApp = flavor.app();
    rawApp.use(flavor.raw({ type: '*/*', limit: '10mb' }));
    rawApp.use(wharf(registry));
    const rawClient = new OciClient((await listen(rawApp)).url);
    const location = await rawClient.startUpload('repo');
    const id = new URL(location).pathname.split('/').pop()!;
    const patch = await rawClient.request('PATCH', location, {
      body: randomContent(1000).bytes,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(patch.status).toBe(500);
    expect(((await patch.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toMatch(
      /body parser/,
    );
    expect((await registry.storage.uploads.get(id))?.size).toBe(0);
  });

  it('is not reached by the default express.json() and express.urlencoded() for spec-conformant requests', async () => {
    const registry = createRegistry();
    const { url } = await listen(hostApp(flavor, registry, { middleware: true }));
    const client = new OciClient(url);
    // Manifests and configs are JSON with `+json` media types: the default parsers only match
    // exact `application/json` and form bodies, so the registry still receives every byte.
    const json = Buffer.from('{ "a" :  1 }\n');
    const image = makeImage();
    for (const blob of [image.config, ...image.layers]) await client.pushBlob('repo', blob.bytes);
    const res = await client.putManifest('repo', 'v1', image.manifest, image.mediaType);
    expect(res.status).toBe(201);
    const location = await client.startUpload('repo');
    const put = await client.request(
      'PUT',
      `${location}${location.includes('?') ? '&' : '?'}digest=${sha256(json)}`,
      {
        body: json,
        headers: { 'Content-Type': 'application/vnd.oci.image.config.v1+json' },
      },
    );
    expect(put.status).toBe(201);
    expect((await client.getBlob('repo', sha256(json))).equals(json)).toBe(true);
  });
});

describe('types', () => {
  it("fits each version's own app.use and Router.use without casts", async () => {
    const registry = createRegistry();
    const app5 = express5();
    app5.use(wharf(registry));
    app5.use(express5.Router().use(wharf<express5.Request>(registry, { context: (req) => req.ip })));
    const app4 = express4();
    app4.use(wharf(registry));
    app4.use('/v2', wharf(registry));
    app4.use(express4.Router().use(wharf(registry)));
    for (const app of [app4, app5]) {
      const { url } = await listen(app);
      expect((await fetch(`${url}/v2/`)).status).toBe(200);
    }
  });
});
