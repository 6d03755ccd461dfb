import { makeImage } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { proxied } from './harness.js';
import { startUpstream, type TestUpstream } from './helpers.js';

let upstream: TestUpstream | undefined;
afterEach(async () => {
  await upstream?.stop();
  upstream = undefined;
});

interface Index {
  manifests: Array<{ digest: string; artifactType?: string }>;
}

describe('listings of proxied repositories', () => {
  it("answers tags/list from the upstream under the client's name, with its pages", async () => {
    upstream = await startUpstream();
    const image = makeImage();
    for (const tag of ['a', 'b', 'c']) await upstream.client.pushImage('library/app', tag, image);
    const proxy = proxied({ upstreams: [{ namespace: 'docker.io', url: upstream.url, prefix: 'hub/' }] });

    const all = await proxy.fetch('/v2/hub/library/app/tags/list');
    expect(all.status).toBe(200);
    expect(await all.json()).toEqual({ name: 'hub/library/app', tags: ['a', 'b', 'c'] });

    const page = await proxy.fetch('/v2/library/app/tags/list?n=2&ns=docker.io');
    expect(await page.json()).toEqual({ name: 'library/app', tags: ['a', 'b'] });
    expect(page.headers.get('link')).toBe('</v2/library/app/tags/list?n=2&last=b&ns=docker.io>; rel="next"');
    expect(page.headers.get('oci-namespace')).toBe('docker.io');
    const rest = await proxy.fetch('/v2/library/app/tags/list?n=2&last=b&ns=docker.io');
    expect(await rest.json()).toEqual({ name: 'library/app', tags: ['c'] });

    const missing = await proxy.fetch('/v2/hub/library/none/tags/list');
    expect(missing.status).toBe(404);
  });

  it('keeps a listing for the freshness interval, then falls back to it (or the cached tags) with a Warning', async () => {
    upstream = await startUpstream();
    const image = makeImage();
    await upstream.client.pushImage('library/app', 'v1', image);
    const proxy = proxied({
      upstreams: [{ namespace: 'docker.io', url: upstream.url, prefix: 'hub/', tagFreshness: 60_000 }],
    });
    expect(await (await proxy.fetch('/v2/hub/library/app/tags/list')).json()).toMatchObject({ tags: ['v1'] });
    await upstream.client.pushImage('library/app', 'v2', image);
    const seen = upstream.seen.length;
    expect(await (await proxy.fetch('/v2/hub/library/app/tags/list')).json()).toMatchObject({ tags: ['v1'] });
    expect(upstream.seen.length).toBe(seen);

    // A pulled tag is cached; with the upstream gone the cached tags are listed.
    expect((await proxy.fetch('/v2/hub/library/app/manifests/v1')).status).toBe(200);
    await upstream.stop();
    upstream = undefined;
    const stale = await proxy.fetch('/v2/hub/library/app/tags/list?n=5');
    expect(stale.status).toBe(200);
    expect(await stale.json()).toEqual({ name: 'hub/library/app', tags: ['v1'] });
    expect(stale.headers.get('warning')).toMatch(/^299 - ".*unreachable.*"$/);
  });

  it('fetches referrers on demand, from the API or the referrers tag schema', async () => {
    for (const referrers of [true, false]) {
      upstream = await startUpstream({ registry: { features: { referrers } } });
      const subject = makeImage();
      await upstream.client.pushImage('library/app', 'v1', subject);
      const descriptor = {
        digest: subject.manifest.digest,
        size: subject.manifest.bytes.byteLength,
        mediaType: subject.mediaType,
      };
      const sbom = makeImage({ subject: descriptor, artifactType: 'application/spdx+json' });
      const sig = makeImage({ subject: descriptor, artifactType: 'application/vnd.dev.cosign' });
      for (const referrer of [sbom, sig]) {
        await upstream.client.pushImage(
          'library/app',
          referrer.manifest.digest.replace(':', '-').slice(0, 20),
          referrer,
        );
      }
      if (!referrers) {
        // A registry without the API: clients keep an index under the referrers tag schema.
        const index = {
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [sbom, sig].map((r) => ({
            mediaType: r.mediaType,
            digest: r.manifest.digest,
            size: r.manifest.bytes.byteLength,
            artifactType: JSON.parse(r.manifest.bytes.toString()).artifactType,
          })),
        };
        const bytes = Buffer.from(JSON.stringify(index));
        const tag = `sha256-${subject.manifest.digest.slice('sha256:'.length)}`;
        const put = await upstream.client.putManifest('library/app', tag, bytes, index.mediaType);
        expect(put.status).toBe(201);
      }
      const proxy = proxied({ upstreams: [{ namespace: 'docker.io', url: upstream.url, prefix: 'hub/' }] });
      const res = await proxy.fetch(`/v2/hub/library/app/referrers/${subject.manifest.digest}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
      const listed = (await res.json()) as Index;
      expect(listed.manifests.map((m) => m.digest).sort()).toEqual(
        [sbom.manifest.digest, sig.manifest.digest].sort(),
      );

      const filtered = await proxy.fetch(
        `/v2/hub/library/app/referrers/${subject.manifest.digest}?artifactType=application/spdx%2Bjson`,
      );
      expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
      expect(((await filtered.json()) as Index).manifests.map((m) => m.digest)).toEqual([
        sbom.manifest.digest,
      ]);
      await upstream.stop();
      upstream = undefined;
    }
  });
});
