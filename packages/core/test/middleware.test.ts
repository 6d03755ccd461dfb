import { createRegistry, type RouteMiddleware } from '@wharf/core';
import { makeImage } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { setup } from './helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Reads a request body to the end. */
async function bodyOf(body: AsyncIterable<Uint8Array> | null): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body ?? []) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

describe('route middleware passing on a changed request', () => {
  it('can read and check a manifest body, then hand the route the same bytes', async () => {
    const seen: string[] = [];
    const inspect: RouteMiddleware = async (call, next) => {
      if (call.route !== 'manifest' || call.method !== 'PUT') return next();
      const bytes = await bodyOf(call.request.body);
      seen.push(JSON.parse(bytes.toString('utf8')).mediaType);
      const body = (async function* () {
        yield bytes;
      })();
      return next({ ...call, request: { ...call.request, body } });
    };
    const { client } = setup({ middleware: [inspect] });
    const image = makeImage();
    const digest = await client.pushImage('team/app', 'v1', image);
    expect(seen).toEqual([OCI_MANIFEST]);
    expect(digest).toBe(image.manifest.digest);
    const pulled = await client.request('GET', '/v2/team/app/manifests/v1', {
      headers: { Accept: OCI_MANIFEST },
    });
    expect(Buffer.from(await pulled.arrayBuffer()).equals(image.manifest.bytes)).toBe(true);
  });

  it('authorizes the request it is handed, and keeps the route and parameters it matched', async () => {
    const users: Array<string | null | undefined> = [];
    const signIn: RouteMiddleware = (call, next) => {
      const headers = new Headers({ authorization: 'Bearer from-middleware' });
      return next({
        ...call,
        params: { repository: 'elsewhere' } as never,
        request: { ...call.request, headers },
      });
    };
    const registry = createRegistry({
      middleware: [signIn],
      authorize: ({ request, repository }) => {
        users.push(request.headers.get('authorization'));
        return repository === 'team/app';
      },
    });
    const res = await registry.fetch('/v2/team/app/tags/list');
    expect(res.status).toBe(404);
    expect(users).toEqual(['Bearer from-middleware']);
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('NAME_UNKNOWN');
  });
});
