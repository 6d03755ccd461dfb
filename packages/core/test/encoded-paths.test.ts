import { makeImage, randomContent } from '@wharf/test-utils';
import { beforeEach, describe, expect, it } from 'vitest';
import { rawRequest, responseErrorCode, setup, storageSnapshot } from './helpers.js';

/**
 * Percent-encoded separators and other escapes in request paths. Routes are matched on the raw
 * path, names are taken as sent and other parameters decoded one segment at a time, so
 * `/v2/bad%2fbase/…` can never act on `bad/base` (a proxy that authorises on the raw path would
 * otherwise be bypassed), whatever the endpoint.
 */

/** Raw name parts that must never be taken for `bad/base` or any other repository. */
const HOSTILE_NAMES = [
  'bad%2fbase',
  'bad%2Fbase',
  'bad%252fbase',
  'bad/base%00',
  'bad%00/base',
  '..%2fbad/base',
  'x/..%2f..%2fbad/base',
  'bad/base/..%2F..%2Fother',
  '%2e%2e/bad/base',
  'bad%c0%afbase',
  'bad%e0%80%afbase',
  'bad%c0%ae%c0%ae/base',
  'bad/%zz',
];

/** Raw references and digests carrying the same escapes. */
const HOSTILE_SEGMENTS = ['v1%2f..%2fv2', 'v1%2F', 'v1%252f', 'v1%00', '..%2fv1', 'v1%c0%af', 'v1%e0%80%af'];

describe('encoded separators and escapes in paths', () => {
  let ctx: ReturnType<typeof setup>;
  let image: ReturnType<typeof makeImage>;
  let uploadId: string;

  beforeEach(async () => {
    ctx = setup();
    image = makeImage({ layers: [100] });
    // Content in the repository an attacker would like to reach, and in its parent.
    for (const repo of ['bad/base', 'bad']) await ctx.client.pushImage(repo, 'v1', image);
    const location = await ctx.client.startUpload('bad/base');
    uploadId = location.split('/').pop()!;
    await ctx.client.request('PATCH', location, { body: randomContent(10).bytes });
  });

  /** Every endpoint that takes a name, for a raw name part, with what a real client would send. */
  function endpoints(name: string): Array<[string, string, Record<string, string>, Uint8Array[] | null]> {
    const { manifest, mediaType, layers } = image;
    const layer = layers[0]!.digest;
    const blob = randomContent(20);
    return [
      ['GET', `/v2/${name}/tags/list`, {}, null],
      ['GET', `/v2/${name}/manifests/v1`, {}, null],
      ['HEAD', `/v2/${name}/manifests/${manifest.digest}`, {}, null],
      ['PUT', `/v2/${name}/manifests/v2`, { 'Content-Type': mediaType }, [manifest.bytes]],
      ['PUT', `/v2/${name}/manifests/${manifest.digest}`, { 'Content-Type': mediaType }, [manifest.bytes]],
      ['DELETE', `/v2/${name}/manifests/v1`, {}, null],
      ['DELETE', `/v2/${name}/manifests/${manifest.digest}`, {}, null],
      ['GET', `/v2/${name}/blobs/${layer}`, {}, null],
      ['HEAD', `/v2/${name}/blobs/${layer}`, {}, null],
      ['DELETE', `/v2/${name}/blobs/${layer}`, {}, null],
      ['POST', `/v2/${name}/blobs/uploads/`, {}, null],
      ['POST', `/v2/${name}/blobs/uploads/?digest=${blob.digest}`, {}, [blob.bytes]],
      ['POST', `/v2/${name}/blobs/uploads/?mount=${layer}&from=bad/base`, {}, null],
      ['GET', `/v2/${name}/blobs/uploads/${uploadId}`, {}, null],
      ['PATCH', `/v2/${name}/blobs/uploads/${uploadId}`, {}, [blob.bytes]],
      ['PUT', `/v2/${name}/blobs/uploads/${uploadId}?digest=${blob.digest}`, {}, [blob.bytes]],
      ['DELETE', `/v2/${name}/blobs/uploads/${uploadId}`, {}, null],
      ['GET', `/v2/${name}/referrers/${manifest.digest}`, {}, null],
    ];
  }

  it('answers NAME_INVALID (400) on every endpoint and changes nothing', async () => {
    const { registry } = ctx;
    const before = await storageSnapshot(registry);
    for (const name of HOSTILE_NAMES) {
      for (const [method, url, headers, body] of endpoints(name)) {
        const res = await registry.handle(rawRequest(method, url, headers, body));
        expect(res.status, `${method} ${url}`).toBe(400);
        if (method !== 'HEAD') expect(await responseErrorCode(res), `${method} ${url}`).toBe('NAME_INVALID');
      }
    }
    expect(await storageSnapshot(registry)).toEqual(before);
  });

  it('takes names exactly as sent, and decodes references and digests one segment at a time', async () => {
    const { registry } = ctx;
    const { manifest } = image;
    // Names need no escapes, so even an escaped letter (`%61` is `a`) is refused: a proxy that
    // authorises on the raw path and the registry then always agree on the repository.
    for (const name of ['b%61d/base', 'bad/base%2e1', 'bad/b%41se']) {
      const res = await registry.handle(rawRequest('GET', `/v2/${name}/manifests/v1`));
      expect(res.status, name).toBe(400);
      expect(await responseErrorCode(res)).toBe('NAME_INVALID');
    }
    // A digest or tag with an escaped character the grammar allows is that digest or tag.
    const encodedDigest = manifest.digest.replace(':', '%3A');
    for (const reference of [encodedDigest, 'v%31']) {
      const res = await registry.handle(rawRequest('GET', `/v2/bad/base/manifests/${reference}`));
      expect(res.status, reference).toBe(200);
      expect(res.headers['Docker-Content-Digest']).toBe(manifest.digest);
    }
  });

  it('rejects encoded separators in tags, digests and upload ids and changes nothing', async () => {
    const { registry } = ctx;
    const { manifest, mediaType, layers } = image;
    const layer = layers[0]!.digest;
    const before = await storageSnapshot(registry);
    const cases: Array<[string, string, Record<string, string>, Uint8Array[] | null, number, string]> = [];
    for (const segment of HOSTILE_SEGMENTS) {
      const repo = '/v2/bad/base';
      const json = { 'Content-Type': mediaType };
      cases.push(
        // A tag that is not a tag names nothing (404) and cannot be written (400).
        ['GET', `${repo}/manifests/${segment}`, {}, null, 404, 'MANIFEST_UNKNOWN'],
        ['PUT', `${repo}/manifests/${segment}`, json, [manifest.bytes], 400, 'MANIFEST_INVALID'],
        ['DELETE', `${repo}/manifests/${segment}`, {}, null, 404, 'MANIFEST_UNKNOWN'],
        // Digests with the same escapes are not digests.
        ['GET', `${repo}/manifests/${manifest.digest}${segment}`, {}, null, 400, 'DIGEST_INVALID'],
        ['PUT', `${repo}/manifests/${layer}${segment}`, json, [manifest.bytes], 400, 'DIGEST_INVALID'],
        ['GET', `${repo}/blobs/${layer}${segment}`, {}, null, 400, 'DIGEST_INVALID'],
        ['DELETE', `${repo}/blobs/${layer}${segment}`, {}, null, 400, 'DIGEST_INVALID'],
        ['GET', `${repo}/referrers/${manifest.digest}${segment}`, {}, null, 400, 'DIGEST_INVALID'],
        // An upload id with them names no session.
        [
          'PATCH',
          `${repo}/blobs/uploads/${uploadId}${segment}`,
          {},
          [randomContent(5).bytes],
          404,
          'BLOB_UPLOAD_UNKNOWN',
        ],
        ['DELETE', `${repo}/blobs/uploads/${segment}${uploadId}`, {}, null, 404, 'BLOB_UPLOAD_UNKNOWN'],
      );
    }
    for (const [method, url, headers, body, status, code] of cases) {
      const res = await registry.handle(rawRequest(method, url, headers, body));
      expect(res.status, `${method} ${url}`).toBe(status);
      expect(await responseErrorCode(res), `${method} ${url}`).toBe(code);
    }
    expect(await storageSnapshot(registry)).toEqual(before);
  });
});
