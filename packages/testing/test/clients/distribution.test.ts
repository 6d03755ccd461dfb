import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, hasTool, type ScratchDir, scratch } from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRegistry, type TestRegistry } from '../../src/index.js';

const sha256 = (bytes: Uint8Array | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** One exchange's observable outcome: status, error code (or body text), and selected headers. */
interface Outcome {
  status: number;
  code: string | undefined;
  contentType: string | undefined;
}

async function outcome(res: Response): Promise<Outcome> {
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { errors?: Array<{ code: string }> }).errors?.[0]?.code;
  } catch {
    code = text.trim();
  }
  return { status: res.status, code, contentType: res.headers.get('content-type')?.split(';')[0] };
}

/**
 * The same requests to Debian's docker-registry (CNCF distribution 2.8, default configuration) and
 * to the test registry under the `distribution` profile: every documented quirk answers alike.
 */
describe.skipIf(!hasTool('docker-registry'))(
  'the distribution profile against distribution 2.8 itself',
  () => {
    let work: ScratchDir;
    let child: ChildProcess;
    let real: string;
    let kit: TestRegistry;

    beforeAll(async () => {
      work = await scratch('wharf-testing-distribution-');
      const port = await freePort();
      const config = join(work.dir, 'config.yml');
      await writeFile(
        config,
        [
          'version: 0.1',
          'log:',
          '  level: warn',
          'storage:',
          '  filesystem:',
          `    rootdirectory: ${join(work.dir, 'root')}`,
          'http:',
          `  addr: 127.0.0.1:${port}`,
          '',
        ].join('\n'),
      );
      child = spawn('docker-registry', ['serve', config], {
        stdio: 'ignore',
        env: { ...process.env, AWS_CA_BUNDLE: '' },
      });
      real = `http://127.0.0.1:${port}`;
      for (let i = 0; ; i++) {
        try {
          if ((await fetch(`${real}/v2/`)).status === 200) break;
        } catch {
          if (i > 100) throw new Error('docker-registry did not start');
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      kit = await createTestRegistry({ quirks: 'distribution' });
    });

    afterAll(async () => {
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      await kit?.close();
      await work?.remove();
    });

    /** Sends the same request to both and returns both outcomes. */
    async function both(path: string, init: RequestInit = {}): Promise<[Outcome, Outcome]> {
      const base = await kit.url();
      return [
        await outcome(await fetch(`${real}${path}`, init)),
        await outcome(await fetch(`${base}${path}`, init)),
      ];
    }

    /** Pushes one small image by the same requests to both. */
    async function pushImage(repository: string, tag: string): Promise<{ digest: string; manifest: Buffer }> {
      const layer = Buffer.from(`layer of ${repository}`);
      const config = Buffer.from(
        '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
      );
      for (const blob of [layer, config]) {
        for (const base of [real, await kit.url()]) {
          const start = await fetch(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
          expect(start.status).toBe(202);
          const location = new URL(start.headers.get('location')!, base);
          location.searchParams.set('digest', sha256(blob));
          expect((await fetch(location, { method: 'PUT', body: blob })).status).toBe(201);
        }
      }
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: {
            mediaType: 'application/vnd.oci.image.config.v1+json',
            digest: sha256(config),
            size: config.byteLength,
          },
          layers: [
            {
              mediaType: 'application/vnd.oci.image.layer.v1.tar',
              digest: sha256(layer),
              size: layer.byteLength,
            },
          ],
        }),
      );
      const [a, b] = await both(`/v2/${repository}/manifests/${tag}`, {
        method: 'PUT',
        headers: { 'Content-Type': OCI_MANIFEST },
        body: manifest,
      });
      expect([a.status, b.status]).toEqual([201, 201]);
      return { digest: sha256(manifest), manifest };
    }

    it('answers each documented quirk as distribution 2.8 does', async () => {
      const { digest } = await pushImage('app', 'v1');
      const cases: Array<[string, RequestInit?]> = [
        [`/v2/app/referrers/${digest}`],
        ['/v2/app/manifests/v1'],
        [
          '/v2/app/manifests/v1',
          { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } },
        ],
        ['/v2/app/manifests/v1', { headers: { Accept: OCI_MANIFEST } }],
        [`/v2/app/manifests/${digest}`, { method: 'DELETE' }],
        ['/v2/app/manifests/v1', { method: 'DELETE' }],
        ['/v2/_catalog?n=5000'],
        ['/v2/nope/tags/list'],
        [`/v2/app/blobs/uploads/?digest=${sha256('x')}`, { method: 'POST', body: 'x' }],
      ];
      for (const [path, init] of cases) {
        const [expected, actual] = await both(path, init);
        expect(actual, `${init?.method ?? 'GET'} ${path}`).toEqual(expected);
      }
    });

    it('ignores ?tag= on pushes and n and last on tag lists, like distribution 2.8', async () => {
      const { digest, manifest } = await pushImage('other', 'a');
      for (const tag of ['b', 'c']) await pushImage('other', tag);
      const [real201, kit201] = await both(`/v2/other/manifests/${digest}?tag=zz`, {
        method: 'PUT',
        headers: { 'Content-Type': OCI_MANIFEST },
        body: manifest,
      });
      expect([real201.status, kit201.status]).toEqual([201, 201]);
      const list = async (base: string, query: string) =>
        (
          (await (await fetch(`${base}/v2/other/tags/list${query}`)).json()) as { tags: string[] }
        ).tags.sort();
      for (const query of ['?n=1', '?last=b', '']) {
        expect(await list(await kit.url(), query)).toEqual(await list(real, query));
      }
      expect(await list(real, '')).toEqual(['a', 'b', 'c']);
    });
  },
);
