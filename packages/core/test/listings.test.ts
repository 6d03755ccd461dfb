import { makeImage } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { errorCode, setup } from './helpers.js';

async function tagAll(client: ReturnType<typeof setup>['client'], repo: string, tags: string[]) {
  const image = makeImage();
  await client.pushImage(repo, tags[0]!, image);
  for (const tag of tags.slice(1)) await client.putManifest(repo, tag, image.manifest, image.mediaType);
}

describe('tags list', () => {
  const tags = ['v1', 'B', 'a', '_x', '1.0', '10', '9', 'a-b', 'a.b', 'a_b', 'Z9', 'latest'];
  const sorted = [...tags].sort();

  it('lists tags in ASCIIbetical order', async () => {
    const { client } = setup();
    await tagAll(client, 'lib/app', tags);
    const res = await client.request('GET', '/v2/lib/app/tags/list');
    expect(res.status).toBe(200);
    expect(res.headers.get('link')).toBeNull();
    expect(await res.json()).toEqual({ name: 'lib/app', tags: sorted });
  });

  it('paginates with n, last and Link rel="next"', async () => {
    const { client } = setup();
    await tagAll(client, 'repo', tags);
    const seen: string[] = [];
    let path: string | undefined = '/v2/repo/tags/list?n=5';
    let pages = 0;
    while (path) {
      const res = await client.request('GET', path);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { tags: string[] };
      expect(body.tags.length).toBeLessThanOrEqual(5);
      seen.push(...body.tags);
      const link = res.headers.get('link');
      if (link) {
        expect(link).toMatch(/^<\/v2\/repo\/tags\/list\?n=5&last=[^>]+>; rel="next"$/);
        expect(body.tags).toHaveLength(5);
      }
      path = link ? /^<([^>]+)>/.exec(link)![1] : undefined;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(sorted);
    const after = await client.request('GET', `/v2/repo/tags/list?n=2&last=${sorted[3]}`);
    expect(((await after.json()) as { tags: string[] }).tags).toEqual(sorted.slice(4, 6));
    const onlyLast = await client.request('GET', `/v2/repo/tags/list?last=${sorted[9]}`);
    expect(((await onlyLast.json()) as { tags: string[] }).tags).toEqual(sorted.slice(10));
  });

  it('answers an empty list without Link for n=0', async () => {
    const { client } = setup();
    await tagAll(client, 'repo', tags);
    const res = await client.request('GET', '/v2/repo/tags/list?n=0');
    expect(res.status).toBe(200);
    expect(res.headers.get('link')).toBeNull();
    expect(await res.json()).toEqual({ name: 'repo', tags: [] });
  });

  it('clamps n to the page size and links to the rest', async () => {
    const { client } = setup({ limits: { pageSize: 4 } });
    await tagAll(client, 'repo', tags);
    const res = await client.request('GET', '/v2/repo/tags/list?n=100');
    expect(((await res.json()) as { tags: string[] }).tags).toEqual(sorted.slice(0, 4));
    expect(res.headers.get('link')).toContain('n=4');
    const unbounded = await client.request('GET', '/v2/repo/tags/list');
    expect(((await unbounded.json()) as { tags: string[] }).tags).toHaveLength(4);
    expect(unbounded.headers.get('link')).not.toBeNull();
  });

  it('rejects an invalid n with 400', async () => {
    const { client } = setup();
    await tagAll(client, 'repo', ['x']);
    for (const n of ['-1', 'abc', '1.5']) {
      expect((await client.request('GET', `/v2/repo/tags/list?n=${n}`)).status).toBe(400);
    }
  });

  it('answers NAME_UNKNOWN for a repository that does not exist, and an empty list for one without tags', async () => {
    const { client } = setup();
    const res = await client.request('GET', '/v2/nothing/tags/list');
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('NAME_UNKNOWN');
    await client.pushBlob('blobs-only', Buffer.from('x'));
    const empty = await client.request('GET', '/v2/blobs-only/tags/list');
    expect(empty.status).toBe(200);
    expect(await empty.json()).toEqual({ name: 'blobs-only', tags: [] });
  });
});

describe('catalog', () => {
  it('lists repositories in order with n, last and Link', async () => {
    const { client } = setup();
    const names = ['b', 'a/b/c', 'a/b', 'a-b', 'a'];
    for (const name of names) await client.pushBlob(name, Buffer.from(name));
    const all = await client.request('GET', '/v2/_catalog');
    expect(all.status).toBe(200);
    expect(await all.json()).toEqual({ repositories: [...names].sort() });
    const page = await client.request('GET', '/v2/_catalog?n=2');
    expect(await page.json()).toEqual({ repositories: ['a', 'a-b'] });
    expect(page.headers.get('link')).toBe('</v2/_catalog?n=2&last=a-b>; rel="next"');
    const next = await client.request('GET', '/v2/_catalog?n=2&last=a-b');
    expect(await next.json()).toEqual({ repositories: ['a/b', 'a/b/c'] });
  });
});
