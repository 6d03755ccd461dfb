import type { RegistryEvent } from '@wharf/core';
import { makeImage, randomContent } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { errorCode, setup } from './helpers.js';

describe('base API', () => {
  it('answers GET /v2/ with 200 and the Docker API version header everywhere', async () => {
    const { client } = setup();
    for (const path of ['/v2/', '/v2']) {
      const res = await client.request('GET', path);
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
      expect(await res.json()).toEqual({});
    }
    const missing = await client.request('GET', `/v2/repo/blobs/${randomContent(1).digest}`);
    expect(missing.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('answers 404 to unknown endpoints and 405 (with Allow) to unsupported methods', async () => {
    const { client } = setup();
    for (const path of ['/', '/v1/', '/v2/repo/unknown/thing', '/v2/repo/manifests/']) {
      const res = await client.request('GET', path);
      expect(res.status, path).toBe(404);
      expect((await res.json()) as object).toHaveProperty('errors');
    }
    const res = await client.request('POST', '/v2/repo/manifests/latest');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, PUT, DELETE, HEAD');
    expect(await errorCode(res)).toBe('UNSUPPORTED');
  });
});

describe('authorize hook', () => {
  it('passes action and repository, and turns denials into 401 (with challenge) or 403', async () => {
    const seen: string[] = [];
    const { client } = setup({
      authorize: ({ action, repository, request }) => {
        seen.push(`${action}:${repository ?? '-'}`);
        const user = request.headers.get('x-user');
        if (!user)
          return {
            allow: false,
            status: 401,
            challenge: 'Bearer realm="https://auth.example/token",service="wharf"',
          };
        if (action === 'push' && !repository?.startsWith(`${user}/`))
          return { allow: false, status: 403, message: 'not yours' };
        if (action === 'delete') return false;
        return true;
      },
    });
    const anonymous = await client.request('GET', '/v2/');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe(
      'Bearer realm="https://auth.example/token",service="wharf"',
    );
    expect(await errorCode(anonymous)).toBe('UNAUTHORIZED');

    const alice = { headers: { 'x-user': 'alice' } };
    expect((await client.request('GET', '/v2/', alice)).status).toBe(200);
    const foreign = await client.request('POST', '/v2/bob/app/blobs/uploads/', alice);
    expect(foreign.status).toBe(403);
    const body = (await foreign.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]).toMatchObject({ code: 'DENIED', message: 'not yours' });
    expect((await client.request('POST', '/v2/alice/app/blobs/uploads/', alice)).status).toBe(202);
    const del = await client.request('DELETE', `/v2/alice/app/blobs/${randomContent(1).digest}`, alice);
    expect(del.status).toBe(403);
    // A bare `false` still says what was denied on which repository (docker retries a DENIED that
    // carries only the spec's default message), and so does a challenge without a message.
    expect(await del.json()).toEqual({
      errors: [
        {
          code: 'DENIED',
          message: 'delete access to repository "alice/app" is denied',
          detail: [{ type: 'repository', name: 'alice/app', action: 'delete' }],
        },
      ],
    });
    const pull = await client.request('GET', '/v2/alice/app/tags/list');
    expect(pull.status).toBe(401);
    expect(await pull.json()).toEqual({
      errors: [
        {
          code: 'UNAUTHORIZED',
          message: 'authentication required for pull access to repository "alice/app"',
          detail: [{ type: 'repository', name: 'alice/app', action: 'pull' }],
        },
      ],
    });
    expect(seen).toEqual([
      'ping:-',
      'ping:-',
      'push:bob/app',
      'push:alice/app',
      'delete:alice/app',
      'pull:alice/app',
    ]);
  });

  it('guards every endpoint: nothing is served or stored without permission', async () => {
    const { client, registry } = setup({ authorize: ({ action }) => action === 'ping' });
    const image = makeImage();
    const { bytes, digest } = randomContent(10);
    const requests: Array<[string, string, RequestInit?]> = [
      ['GET', `/v2/repo/blobs/${digest}`],
      ['HEAD', '/v2/repo/manifests/latest'],
      [
        'PUT',
        '/v2/repo/manifests/latest',
        { body: image.manifest.bytes, headers: { 'Content-Type': image.mediaType } },
      ],
      ['POST', `/v2/repo/blobs/uploads/?digest=${digest}`, { body: bytes }],
      ['GET', '/v2/repo/tags/list'],
      ['GET', `/v2/repo/referrers/${digest}`],
      ['GET', '/v2/_catalog'],
      ['DELETE', '/v2/repo/manifests/latest'],
    ];
    for (const [method, path, init] of requests) {
      const res = await client.request(method, path, init);
      expect(res.status, `${method} ${path}`).toBe(403);
      if (method !== 'HEAD') expect(await errorCode(res)).toBe('DENIED');
    }
    const catalog = await client.request('GET', '/v2/_catalog');
    expect(((await catalog.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toBe(
      'access to the catalog is denied',
    );
    expect(await registry.storage.blobs.stat(digest)).toBeNull();
  });

  it('lists only the repositories the caller may pull from in the catalog, paginating over them', async () => {
    const purposes = new Set<string | undefined>();
    const { client } = setup({
      authorize: ({ action, repository, request, purpose }) => {
        if (action === 'pull') purposes.add(purpose);
        return action !== 'pull' || request.headers.get('x-user') === null || repository!.startsWith('team/');
      },
    });
    for (const name of ['a', 'team/a', 'b', 'team/b', 'c', 'team/c', 'z'])
      await client.pushBlob(name, Buffer.from(name));
    const user = { headers: { 'x-user': 'u' } };
    expect(await (await client.request('GET', '/v2/_catalog', user)).json()).toEqual({
      repositories: ['team/a', 'team/b', 'team/c'],
    });
    const page = await client.request('GET', '/v2/_catalog?n=2', user);
    expect(await page.json()).toEqual({ repositories: ['team/a', 'team/b'] });
    expect(page.headers.get('link')).toBe('</v2/_catalog?n=2&last=team%2Fb>; rel="next"');
    const rest = await client.request('GET', '/v2/_catalog?n=2&last=team%2Fb', user);
    expect(await rest.json()).toEqual({ repositories: ['team/c'] });
    expect(rest.headers.get('link')).toBeNull();
    // Entries are checked on behalf of the catalog request, and say so.
    expect([...purposes]).toEqual(['catalog']);
  });

  it('turns a from-less mount into an upload under access control (no existence oracle)', async () => {
    const { client } = setup({ authorize: () => true });
    const { bytes, digest } = randomContent(10);
    await client.pushBlob('elsewhere', bytes);
    const res = await client.request('POST', `/v2/mine/blobs/uploads/?mount=${digest}`);
    expect(res.status).toBe(202);
    expect((await client.request('HEAD', `/v2/mine/blobs/${digest}`)).status).toBe(404);
  });

  it('hands the request context to the hook', async () => {
    let context: unknown;
    const { registry } = setup({
      authorize: ({ request }) => {
        context = request.context;
        return true;
      },
    });
    const request = new Request('http://registry.local/v2/');
    await registry.fetch(request);
    expect(context).toBe(request);
  });
});

describe('events', () => {
  it('reports pushes, pulls, mounts and deletes; a failing listener does not affect responses', async () => {
    const events: RegistryEvent[] = [];
    const { client } = setup({
      onEvent: (event) => {
        events.push(event);
        throw new Error('listener bug');
      },
    });
    const image = makeImage();
    await client.pushImage('repo', 'v1', image, 'single-post');
    await client.getManifest('repo', 'v1');
    await client.getBlob('repo', image.config.digest);
    await client.request('POST', `/v2/other/blobs/uploads/?mount=${image.config.digest}&from=repo`);
    await client.request('DELETE', '/v2/repo/manifests/v1');
    await client.request('DELETE', `/v2/repo/manifests/${image.manifest.digest}`);
    await client.request('DELETE', `/v2/repo/blobs/${image.config.digest}`);
    expect(events.map((e) => e.type)).toEqual([
      'blob.pushed',
      'blob.pushed',
      'manifest.pushed',
      'manifest.pulled',
      'blob.pulled',
      'blob.mounted',
      'tag.deleted',
      'manifest.deleted',
      'blob.deleted',
    ]);
    expect(events[2]).toMatchObject({
      type: 'manifest.pushed',
      repository: 'repo',
      digest: image.manifest.digest,
      tags: ['v1'],
      size: image.manifest.bytes.byteLength,
    });
    expect(events[5]).toMatchObject({ type: 'blob.mounted', repository: 'other', from: 'repo' });
  });
});
