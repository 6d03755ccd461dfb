import { createRegistry, type Registry } from '@wharf/core';
import { makeImage, OciClient, randomContent, type TestImage } from '@wharf/test-utils';
import { beforeEach, describe, expect, it } from 'vitest';
import { basicAuth, createTokenAuth, parseHtpasswd } from '../src/index.js';
import { basic, htpasswdText, PASSWORDS, RULES } from './helpers.js';

/**
 * A user of one repository must not learn whether a blob exists in another, through any of the
 * API's doors: cross-repository mount, HEAD/GET, the catalog, referrers. Checked for Basic and for
 * token auth, against a signed-in user without rights there and an anonymous client.
 */

const users = parseHtpasswd(htpasswdText());

/** Scopes a client might ask for while poking at alice's repository. */
const PROBE_SCOPES = [
  'repository:bob/app:pull,push',
  'repository:bob/own:pull,push',
  'repository:alice/secret:pull',
  'repository:alice/nothing:pull',
  'registry:catalog:*',
];

interface Mode {
  readonly name: string;
  create(): {
    registry: Registry;
    client(user: keyof typeof PASSWORDS | undefined, scopes?: string[]): Promise<OciClient>;
  };
  /** What an anonymous probe gets. */
  readonly anonymousStatus: number;
  /** What a signed-in user without rights gets (token auth answers as distribution: 401 insufficient_scope). */
  readonly deniedStatus: number;
}

function client(registry: Registry, authorization: string | undefined): OciClient {
  return new OciClient('http://registry.local', (input, init) => {
    const headers = new Headers(init?.headers);
    if (authorization) headers.set('Authorization', authorization);
    return registry.fetch(input, { ...init, headers });
  });
}

const MODES: Mode[] = [
  {
    name: 'basic auth',
    anonymousStatus: 401,
    deniedStatus: 403,
    create() {
      const registry = createRegistry({ authorize: basicAuth({ users, rules: RULES }) });
      return {
        registry,
        client: async (user) => client(registry, user ? basic(user, PASSWORDS[user]) : undefined),
      };
    },
  },
  {
    name: 'token auth',
    anonymousStatus: 401,
    deniedStatus: 401,
    create() {
      const auth = createTokenAuth({ users, rules: RULES, anonymous: true });
      const registry = createRegistry({ authorize: auth.authorize });
      return {
        registry,
        client: async (user, scopes = PROBE_SCOPES) => {
          const query = new URLSearchParams({ service: 'wharf' });
          for (const scope of scopes) query.append('scope', scope);
          const res = await auth.issuer.handle({
            method: 'GET',
            url: `/token?${query}`,
            headers: new Headers(user ? { Authorization: basic(user, PASSWORDS[user]) } : {}),
          });
          if (res.status !== 200) throw new Error(`token request: ${res.status}`);
          return client(registry, `Bearer ${(JSON.parse(res.body) as { token: string }).token}`);
        },
      };
    },
  },
];

describe.each(MODES)('isolation between repositories with $name', (mode) => {
  let env: ReturnType<Mode['create']>;
  let registry: Registry;
  let bob: OciClient;
  let anonymous: OciClient;
  let secret: TestImage;
  const missing = randomContent(64).digest;

  beforeEach(async () => {
    env = mode.create();
    registry = env.registry;
    secret = makeImage({ layers: [4096] });
    const alice = await env.client('alice', ['repository:alice/secret:pull,push']);
    await alice.pushImage('alice/secret', 'v1', secret);
    const admin = await env.client('admin', [
      'repository:public/base:pull,push',
      'repository:shared/tool:pull,push',
    ]);
    await admin.pushImage('public/base', 'v1', makeImage());
    await admin.pushImage('shared/tool', 'v1', makeImage());
    bob = await env.client('bob');
    await bob.pushImage('bob/own', 'v1', makeImage());
    anonymous = await env.client(undefined);
  });

  const layer = () => secret.layers[0]!.digest;

  async function probe(c: OciClient, method: string, path: string) {
    const res = await c.request(method, path);
    await res.arrayBuffer();
    return { status: res.status, headers: [...res.headers.keys()].sort() };
  }

  it('mount with from: falls back to an upload (202) and links nothing', async () => {
    const res = await bob.request('POST', `/v2/bob/app/blobs/uploads/?mount=${layer()}&from=alice/secret`);
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toMatch(/^\/v2\/bob\/app\/blobs\/uploads\/[^/]+$/);
    expect(await registry.storage.metadata.hasBlobLink('bob/app', layer())).toBe(false);
    expect((await bob.request('HEAD', `/v2/bob/app/blobs/${layer()}`)).status).toBe(404);
    // Exactly what mounting a blob that exists nowhere answers.
    const control = await bob.request(
      'POST',
      `/v2/bob/app/blobs/uploads/?mount=${missing}&from=alice/secret`,
    );
    expect(control.status).toBe(202);
    expect([...control.headers.keys()].sort()).toEqual([...res.headers.keys()].sort());
    // And without `from` (automatic mount) too.
    const automatic = await bob.request('POST', `/v2/bob/app/blobs/uploads/?mount=${layer()}`);
    expect(automatic.status).toBe(202);
    expect(await registry.storage.metadata.hasBlobLink('bob/app', layer())).toBe(false);
  });

  it('mount with from still works for a user who may pull the source (control)', async () => {
    const alice = await env.client('alice', [
      'repository:alice/secret:pull',
      'repository:alice/copy:pull,push',
    ]);
    const res = await alice.request(
      'POST',
      `/v2/alice/copy/blobs/uploads/?mount=${layer()}&from=alice/secret`,
    );
    expect(res.status).toBe(201);
    expect(await registry.storage.metadata.hasBlobLink('alice/copy', layer())).toBe(true);
  });

  it('HEAD and GET answer the same whether or not the blob or repository exists', async () => {
    const paths = [
      `/v2/alice/secret/blobs/${layer()}`,
      `/v2/alice/secret/blobs/${missing}`,
      `/v2/alice/nothing/blobs/${layer()}`,
      `/v2/alice/secret/manifests/v1`,
      `/v2/alice/secret/manifests/v2`,
      `/v2/alice/secret/tags/list`,
      `/v2/alice/nothing/tags/list`,
    ];
    for (const [who, status] of [
      [bob, mode.deniedStatus],
      [anonymous, mode.anonymousStatus],
    ] as const) {
      const answers = [];
      for (const path of paths) {
        for (const method of ['HEAD', 'GET'])
          answers.push({ path, method, ...(await probe(who, method, path)) });
      }
      for (const answer of answers) {
        expect(answer.status, `${answer.method} ${answer.path}`).toBe(status);
        const sameMethod = answers.find((a) => a.method === answer.method)!;
        expect(answer.headers, `${answer.method} ${answer.path}`).toEqual(sameMethod.headers);
      }
    }
  });

  it('the catalog lists only repositories the caller may pull, pages included', async () => {
    const res = await bob.request('GET', '/v2/_catalog');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ repositories: ['bob/own', 'public/base', 'shared/tool'] });
    const page = await bob.request('GET', '/v2/_catalog?n=2');
    expect(await page.json()).toEqual({ repositories: ['bob/own', 'public/base'] });
    expect(page.headers.get('link')).toContain('last=public%2Fbase');
    const rest = await bob.request('GET', '/v2/_catalog?n=2&last=public%2Fbase');
    expect(await rest.json()).toEqual({ repositories: ['shared/tool'] });
    expect(rest.headers.get('link')).toBeNull();
    expect((await anonymous.request('GET', '/v2/_catalog')).status).toBe(mode.anonymousStatus);
  });

  it('referrers of a manifest in a repository the caller may not pull are refused alike', async () => {
    const subject = {
      digest: secret.manifest.digest,
      size: secret.manifest.bytes.byteLength,
      mediaType: secret.mediaType,
    };
    const alice = await env.client('alice', ['repository:alice/secret:pull,push']);
    const artifact = makeImage({ subject, artifactType: 'application/vnd.test.sig' });
    await alice.pushImage('alice/secret', 'sig', artifact);
    const listed = await alice.request('GET', `/v2/alice/secret/referrers/${secret.manifest.digest}`);
    expect(((await listed.json()) as { manifests: unknown[] }).manifests).toHaveLength(1);

    for (const [who, status] of [
      [bob, mode.deniedStatus],
      [anonymous, mode.anonymousStatus],
    ] as const) {
      const present = await probe(who, 'GET', `/v2/alice/secret/referrers/${secret.manifest.digest}`);
      const absent = await probe(who, 'GET', `/v2/alice/secret/referrers/${missing}`);
      expect(present.status).toBe(status);
      expect(absent).toEqual(present);
    }
  });
});
