import { RegistryError, type RequestFinishedEvent, type RouteCall, type RouteMiddleware } from '@wharf/core';
import { makeImage, randomContent } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { errorCode, rawRequest, responseErrorCode, setup, storageSnapshot } from './helpers.js';

const DIGEST = randomContent(8).digest;
const UUID = '3f1c1c2e-8a4e-4c55-9b55-0b1f6d3c2a10';

/** One request per route and method, with `<name>` where the repository goes. */
const ENDPOINTS: ReadonlyArray<readonly [string, string]> = [
  ['GET', '/v2/<name>/tags/list'],
  ['GET', '/v2/<name>/manifests/v1'],
  ['HEAD', `/v2/<name>/manifests/${DIGEST}`],
  ['PUT', '/v2/<name>/manifests/v1'],
  ['DELETE', '/v2/<name>/manifests/v1'],
  ['GET', `/v2/<name>/blobs/${DIGEST}`],
  ['HEAD', `/v2/<name>/blobs/${DIGEST}`],
  ['DELETE', `/v2/<name>/blobs/${DIGEST}`],
  ['POST', '/v2/<name>/blobs/uploads/'],
  ['GET', `/v2/<name>/blobs/uploads/${UUID}`],
  ['PATCH', `/v2/<name>/blobs/uploads/${UUID}`],
  ['PUT', `/v2/<name>/blobs/uploads/${UUID}?digest=${DIGEST}`],
  ['DELETE', `/v2/<name>/blobs/uploads/${UUID}`],
  ['GET', `/v2/<name>/referrers/${DIGEST}`],
];

/** A hook that refuses everyone and records what it was asked. */
function refuseAll(asked: string[]) {
  return ({ action, repository }: { action: string; repository?: string }) => {
    asked.push(`${action}:${repository ?? '-'}`);
    return { allow: false as const, status: 401 as const, challenge: 'Basic realm="test"' };
  };
}

describe('the route table', () => {
  it('validates before it authorizes, on every route: 400 for a bad name, and the hook never sees it', async () => {
    const asked: string[] = [];
    const { registry } = setup({ authorize: refuseAll(asked), logger: {} });
    for (const [method, path] of ENDPOINTS) {
      const bad = await registry.handle(rawRequest(method, path.replace('<name>', 'Bad%2fName')));
      expect(bad.status, `${method} ${path}`).toBe(400);
      if (method !== 'HEAD') expect(await responseErrorCode(bad)).toBe('NAME_INVALID');
      // The same request with a valid name reaches the hook, which asks for credentials.
      const good = await registry.handle(rawRequest(method, path.replace('<name>', 'team/app')));
      expect(good.status, `${method} ${path}`).toBe(401);
      expect(good.headers['WWW-Authenticate']).toBe('Basic realm="test"');
    }
    expect(asked.every((entry) => entry.endsWith(':team/app'))).toBe(true);
    expect(asked).toHaveLength(ENDPOINTS.length);
  });

  it('answers malformed digests, references, upload ids and query parameters before authorization', async () => {
    const asked: string[] = [];
    const { registry } = setup({ authorize: refuseAll(asked), logger: {} });
    const cases: Array<[string, string, number, string]> = [
      ['GET', '/v2/a/blobs/sha256:zz', 400, 'DIGEST_INVALID'],
      ['GET', '/v2/a/referrers/md5:abc', 400, 'DIGEST_INVALID'],
      ['PUT', '/v2/a/manifests/-bad-tag', 400, 'MANIFEST_INVALID'],
      ['GET', '/v2/a/manifests/-bad-tag', 404, 'MANIFEST_UNKNOWN'],
      ['PATCH', '/v2/a/blobs/uploads/not-a-uuid', 404, 'BLOB_UPLOAD_UNKNOWN'],
      ['PUT', `/v2/a/blobs/uploads/${UUID}`, 400, 'DIGEST_INVALID'],
      ['POST', '/v2/a/blobs/uploads/?mount=sha256:zz&from=b', 400, 'DIGEST_INVALID'],
      ['POST', `/v2/a/blobs/uploads/?mount=${DIGEST}&from=B%2F`, 400, 'NAME_INVALID'],
      ['POST', '/v2/a/blobs/uploads/?digest-algorithm=md5', 400, 'DIGEST_INVALID'],
      ['GET', '/v2/a/tags/list?n=-1', 400, 'UNSUPPORTED'],
      ['PUT', `/v2/a/manifests/${DIGEST}?tag=-x`, 400, 'MANIFEST_INVALID'],
    ];
    for (const [method, url, status, code] of cases) {
      const res = await registry.handle(rawRequest(method, url));
      expect(res.status, `${method} ${url}`).toBe(status);
      expect(await responseErrorCode(res), `${method} ${url}`).toBe(code);
    }
    expect(asked).toEqual([]);
  });

  it('answers a route a feature toggle turned off before authorization', async () => {
    const asked: string[] = [];
    const { registry } = setup({
      authorize: refuseAll(asked),
      logger: {},
      features: { deleteBlobs: false, deleteTags: false, referrers: false },
    });
    const cases: Array<[string, string, number]> = [
      ['DELETE', `/v2/a/blobs/${DIGEST}`, 405],
      ['DELETE', '/v2/a/manifests/v1', 405],
      ['GET', `/v2/a/referrers/${DIGEST}`, 404],
    ];
    for (const [method, url, status] of cases) {
      const res = await registry.handle(rawRequest(method, url));
      expect(res.status, `${method} ${url}`).toBe(status);
      expect(await responseErrorCode(res)).toBe('UNSUPPORTED');
    }
    // Deleting manifests by digest is still on, so that route still asks the hook.
    expect((await registry.handle(rawRequest('DELETE', `/v2/a/manifests/${DIGEST}`))).status).toBe(401);
    expect(asked).toEqual(['delete:a']);
  });

  it('answers HEAD wherever GET is, with the GET headers and no body, and lists it in Allow', async () => {
    const { client } = setup();
    const image = makeImage();
    await client.pushImage('repo', 'v1', image);
    for (const path of [
      '/v2/repo/manifests/v1',
      `/v2/repo/blobs/${image.layers[0]!.digest}`,
      '/v2/repo/tags/list',
    ]) {
      const get = await client.request('GET', path);
      const head = await client.request('HEAD', path);
      expect(head.status).toBe(get.status);
      expect(head.headers.get('content-length')).toBe(get.headers.get('content-length'));
      expect(head.headers.get('docker-content-digest')).toBe(get.headers.get('docker-content-digest'));
      expect((await head.arrayBuffer()).byteLength).toBe(0);
    }
    const post = await client.request('POST', '/v2/repo/tags/list');
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await client.request('POST', '/v2/repo/manifests/v1')).headers.get('allow')).toBe(
      'GET, PUT, DELETE, HEAD',
    );
  });

  it('reports the route, action, repository and user of every request to the observer', async () => {
    const finished: RequestFinishedEvent[] = [];
    const { registry } = setup({
      logger: {},
      authorize: ({ action }) => (action === 'delete' ? false : { allow: true, user: 'ci' }),
      observer: { requestFinished: (event) => finished.push(event) },
    });
    for (const [method, url] of [
      ['GET', '/v2/'],
      ['POST', '/v2/team/app/blobs/uploads/'],
      ['DELETE', '/v2/team/app/manifests/v1'],
      ['GET', '/v2/Bad/tags/list'],
      ['GET', '/v3/nothing'],
    ] as const) {
      await registry.handle(rawRequest(method, url));
    }
    expect(
      finished.map(({ route, action, repository, user, status }) => [
        route,
        action,
        repository,
        user,
        status,
      ]),
    ).toEqual([
      ['base', 'ping', undefined, 'ci', 200],
      ['blob-upload', 'push', 'team/app', 'ci', 202],
      ['manifest', 'delete', 'team/app', undefined, 403],
      ['tags', 'pull', undefined, undefined, 400],
      [undefined, undefined, undefined, undefined, 404],
    ]);
  });
});

describe('route middleware', () => {
  it('sees the route and its validated parameters, and can answer instead of the handler', async () => {
    const seen: string[] = [];
    const throttle: RouteMiddleware = async (call, next) => {
      seen.push(`${call.method} ${call.route} ${call.params.repository ?? '-'}`);
      if (call.route === 'blob' && call.params.digest.algorithm === 'sha256' && call.head) {
        return { status: 429, headers: { 'Retry-After': '7' }, body: null };
      }
      return next();
    };
    const { client, registry } = setup({ middleware: [throttle] });
    const { bytes, digest } = randomContent(100);
    const before = await storageSnapshot(registry);
    const head = await client.request('HEAD', `/v2/team/app/blobs/${digest}`);
    expect(head.status).toBe(429);
    expect(head.headers.get('retry-after')).toBe('7');
    expect(await storageSnapshot(registry)).toEqual(before);
    await client.pushBlob('team/app', bytes, 'single-post');
    expect((await client.request('GET', `/v2/team/app/blobs/${digest}`)).status).toBe(200);
    // A name that fails validation never reaches the middleware.
    expect((await client.request('GET', '/v2/Team/tags/list')).status).toBe(400);
    expect(seen).toEqual(['HEAD blob team/app', 'POST blob-upload team/app', 'GET blob team/app']);
  });

  it('runs outermost first around authorization, and may change the response or the query', async () => {
    const order: string[] = [];
    const outer: RouteMiddleware = async (call, next) => {
      order.push(`outer ${call.route}`);
      const response = await next();
      // A registry that never sends Docker-Content-Digest.
      delete response.headers['Docker-Content-Digest'];
      return response;
    };
    const inner: RouteMiddleware = async (call, next) => {
      order.push('inner');
      // A registry that ignores `n`: the query is parsed after the middleware ran.
      if (call.route === 'tags') call.query.delete('n');
      return next();
    };
    const { client } = setup({
      middleware: [outer, inner],
      authorize: ({ action }) => {
        order.push(`authorize ${action}`);
        return true;
      },
    });
    const image = makeImage();
    await client.pushImage('repo', 'v1', image);
    await client.pushImage('repo', 'v2', image);
    order.length = 0;
    const get = await client.request('GET', '/v2/repo/manifests/v1');
    expect(get.status).toBe(200);
    expect(get.headers.get('docker-content-digest')).toBeNull();
    expect(order).toEqual(['outer manifest', 'inner', 'authorize pull']);
    const tags = await client.request('GET', '/v2/repo/tags/list?n=1');
    expect(await tags.json()).toEqual({ name: 'repo', tags: ['v1', 'v2'] });
  });

  it('turns what a middleware throws into the spec error body, and is typed by route', async () => {
    const refuseTags: RouteMiddleware = async (call: RouteCall, next) => {
      if (
        call.route === 'manifest' &&
        call.params.reference.kind === 'tag' &&
        call.params.reference.tag === 'frozen'
      ) {
        throw new RegistryError('DENIED', { message: 'tag frozen is immutable' });
      }
      return next();
    };
    const { client } = setup({ middleware: [refuseTags] });
    const image = makeImage();
    await client.pushImage('repo', 'v1', image);
    const res = await client.putManifest('repo', 'frozen', image.manifest, image.mediaType);
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('DENIED');
  });
});
