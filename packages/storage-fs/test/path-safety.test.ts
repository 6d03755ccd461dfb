import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createRegistry,
  isStoreError,
  type Registry,
  type RegistryResponse,
  toRegistryError,
} from '@wharf/core';
import { createFsStorage, type FsStorage } from '@wharf/storage-fs';
import { makeImage, OciClient, sha256 } from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const SECRET = 'top secret: must never be served or changed';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const UUID = '12345678-1234-4234-8234-123456789abc';

async function* bodyOf(text: string): AsyncGenerator<Uint8Array> {
  yield Buffer.from(text);
}

/** Sends a raw request target (no URL normalisation, as a hostile HTTP client would). */
async function send(
  registry: Registry,
  method: string,
  url: string,
  body?: string,
): Promise<RegistryResponse> {
  return registry.handle({
    method,
    url,
    headers: new Headers({ 'content-type': 'application/vnd.oci.image.manifest.v1+json' }),
    body: body === undefined ? null : bodyOf(body),
  });
}

function text(response: RegistryResponse): string {
  return response.body instanceof Uint8Array ? Buffer.from(response.body).toString('utf8') : '';
}

function codeOf(response: RegistryResponse): string | undefined {
  try {
    return (JSON.parse(text(response)) as { errors?: Array<{ code?: string }> }).errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

/**
 * Expected answers: [method, raw target, status, error code]. Routes match the raw path and decode
 * each segment on its own, so an escape is judged by the grammar of the parameter it is in.
 */
const HOSTILE: ReadonlyArray<readonly [string, string, number, string]> = [
  // repository names
  ['GET', '/v2/../x/tags/list', 400, 'NAME_INVALID'],
  ['GET', '/v2/%2e%2e/x/tags/list', 400, 'NAME_INVALID'],
  ['GET', '/v2/%2E%2E/%2E%2E/x/tags/list', 400, 'NAME_INVALID'],
  ['GET', '/v2/a%2f..%2f..%2fx/tags/list', 400, 'NAME_INVALID'],
  ['GET', '/v2/%252e%252e/x/tags/list', 400, 'NAME_INVALID'],
  ['GET', '/v2/a\\..\\..\\x/tags/list', 400, 'NAME_INVALID'],
  ['GET', '/v2/a/../../../outside/manifests/latest', 400, 'NAME_INVALID'],
  ['PUT', '/v2/a/%2e%2e/%2e%2e/%2e%2e/outside/manifests/latest', 400, 'NAME_INVALID'],
  ['POST', '/v2/..%2f..%2f..%2foutside/blobs/uploads/', 400, 'NAME_INVALID'],
  ['POST', '/v2/../../../outside/blobs/uploads/', 400, 'NAME_INVALID'],
  ['POST', `/v2/a/blobs/uploads/?mount=${DIGEST}&from=..%2f..%2foutside`, 400, 'NAME_INVALID'],
  ['GET', `/v2/./a/blobs/${DIGEST}`, 400, 'NAME_INVALID'],
  ['GET', '/v2/a%00b/tags/list', 400, 'NAME_INVALID'],
  // digests
  ['GET', '/v2/a/blobs/..', 400, 'DIGEST_INVALID'],
  ['GET', '/v2/a/blobs/sha256:..', 400, 'DIGEST_INVALID'],
  ['GET', `/v2/a/blobs/sha256:${'a'.repeat(62)}..`, 400, 'DIGEST_INVALID'],
  ['GET', `/v2/a/blobs/sha256:${'%2e'.repeat(64)}`, 400, 'DIGEST_INVALID'],
  ['GET', '/v2/a/blobs/sha256:..%2f..%2f..%2f..%2f..%2fsecret', 400, 'DIGEST_INVALID'],
  ['GET', '/v2/a/manifests/sha256:..', 400, 'DIGEST_INVALID'],
  ['DELETE', '/v2/a/manifests/sha256:%2e%2e', 400, 'DIGEST_INVALID'],
  ['POST', '/v2/a/blobs/uploads/?digest=sha256:..%2f..%2fsecret', 400, 'DIGEST_INVALID'],
  ['GET', '/v2/a/referrers/sha256:..', 400, 'DIGEST_INVALID'],
  ['GET', `/v2/a/blobs/sha256:${'a'.repeat(63)}%00`, 400, 'DIGEST_INVALID'],
  // tags
  ['GET', '/v2/a/manifests/..', 404, 'MANIFEST_UNKNOWN'],
  ['GET', '/v2/a/manifests/%2e%2e', 404, 'MANIFEST_UNKNOWN'],
  ['PUT', '/v2/a/manifests/..', 400, 'MANIFEST_INVALID'],
  ['PUT', '/v2/a/manifests/%2e', 400, 'MANIFEST_INVALID'],
  ['DELETE', '/v2/a/manifests/..', 404, 'MANIFEST_UNKNOWN'],
  // upload ids
  ['GET', '/v2/a/blobs/uploads/..', 404, 'BLOB_UPLOAD_UNKNOWN'],
  ['GET', '/v2/a/blobs/uploads/%2e%2e', 404, 'BLOB_UPLOAD_UNKNOWN'],
  ['PATCH', '/v2/a/blobs/uploads/..', 404, 'BLOB_UPLOAD_UNKNOWN'],
  ['PUT', `/v2/a/blobs/uploads/..?digest=${DIGEST}`, 404, 'BLOB_UPLOAD_UNKNOWN'],
  ['DELETE', '/v2/a/blobs/uploads/%2e%2e', 404, 'BLOB_UPLOAD_UNKNOWN'],
  ['PATCH', '/v2/a/blobs/uploads/..%2f..%2f..%2ftmp', 404, 'BLOB_UPLOAD_UNKNOWN'],
  ['GET', `/v2/a/blobs/uploads/${UUID.toUpperCase()}`, 404, 'BLOB_UPLOAD_UNKNOWN'],
  ['GET', `/v2/a/blobs/uploads/${UUID}%00`, 404, 'BLOB_UPLOAD_UNKNOWN'],
];

/**
 * No request may read or write outside the storage root, whatever it names: core validates names,
 * digests, tags and ids, and the store checks again that every path it builds stays inside.
 */
describe('path safety of the filesystem store', () => {
  let work: { dir: string; remove: () => Promise<void> };
  let root: string;
  let storage: FsStorage;
  let registry: Registry;
  let sentinel: string;
  let before: { entries: string[]; mtime: number };

  async function outside(): Promise<{ entries: string[]; mtime: number }> {
    const entries = (await readdir(work.dir, { recursive: true })).filter((e) => !e.startsWith('root'));
    return { entries: entries.sort(), mtime: (await stat(sentinel)).mtimeMs };
  }

  beforeAll(async () => {
    work = await tempDir('paths');
    root = join(work.dir, 'root');
    sentinel = join(work.dir, 'secret');
    await writeFile(sentinel, SECRET);
    await mkdir(join(work.dir, 'outside', '_layers'), { recursive: true });
    await writeFile(join(work.dir, 'outside', 'data'), SECRET);
    storage = await createFsStorage({ root });
    registry = createRegistry({ storage });
    before = await outside();
  });

  afterAll(async () => {
    await storage?.close();
    await work?.remove();
  });

  it('answers hostile names, digests, tags and upload ids with the right 4xx', async () => {
    // A real image first, so that a traversal would have something to find.
    const client = new OciClient('http://registry.local', (input, init) => registry.fetch(input, init));
    const image = makeImage();
    await client.pushImage('a', 'latest', image);
    const upload = await client.startUpload('a');

    const answers: string[] = [];
    for (const [method, url, status, code] of HOSTILE) {
      const body = method === 'PUT' || method === 'PATCH' || method === 'POST' ? SECRET : undefined;
      const response = await send(registry, method, url, body);
      expect(text(response)).not.toContain(SECRET);
      answers.push(`${method} ${url} -> ${response.status} ${codeOf(response)}`);
      expect(`${method} ${url} -> ${response.status} ${codeOf(response)}`).toBe(
        `${method} ${url} -> ${status} ${code}`,
      );
    }
    expect(answers).toHaveLength(HOSTILE.length);

    // The legitimate content is untouched and the session still works.
    await client.pullImage('a', 'latest', image);
    expect((await client.request('GET', upload)).status).toBe(204);
    expect(await outside()).toEqual(before);
    expect(await readFile(sentinel, 'utf8')).toBe(SECRET);
  });

  it('refuses hostile keys at the store itself', async () => {
    const { blobs, uploads, metadata } = storage;
    const badDigests = [
      'sha256:../../../../secret',
      `sha256:${'a'.repeat(62)}/.`,
      `sha256:${'a'.repeat(63)}\0`,
      `../${'a'.repeat(64)}`,
      `sha256/../../x:${'a'.repeat(64)}`,
      `SHA256:${'A'.repeat(64)}`,
    ];
    const badNames = [
      '..',
      '../outside',
      'a/../../outside',
      'a//b',
      '/abs',
      'a\0b',
      'a/./b',
      'a\\..\\b',
      '_layers',
    ];
    const badTags = ['..', '.', '../x', 'a/b', '\0', ''];
    const badIds = ['..', '../x', `${UUID}/..`, `../${UUID}`, `${UUID}\0`, '', '.'];

    const refused = async (operation: () => Promise<unknown>): Promise<void> => {
      const error = await operation().then(
        () => undefined,
        (e: unknown) => e,
      );
      // A storage-neutral refusal, which core answers with a 4xx.
      expect(isStoreError(error), String(error)).toBe(true);
      expect(toRegistryError(error).status).toBeGreaterThanOrEqual(400);
      expect(toRegistryError(error).status).toBeLessThan(500);
    };

    for (const digest of badDigests) {
      await refused(() => blobs.stat(digest));
      await refused(() => blobs.open(digest));
      await refused(() => blobs.put(digest, bodyOf(SECRET)));
      await refused(() => blobs.delete(digest));
      await refused(() => metadata.linkBlob('a', digest));
      await refused(() => metadata.hasBlobLink('a', digest));
      await refused(() => metadata.putManifest('a', { digest, mediaType: 'application/json' }));
      await refused(() => metadata.putTag('a', 'latest', digest));
      await refused(() => metadata.putReferrer('a', digest, { mediaType: 'x', digest: DIGEST, size: 1 }));
      await refused(() => metadata.putReferrer('a', DIGEST, { mediaType: 'x', digest, size: 1 }));
    }
    for (const name of badNames) {
      await refused(() => metadata.linkBlob(name, DIGEST));
      await refused(() => metadata.putTag(name, 'latest', DIGEST));
      await refused(() => metadata.listTags(name));
      await refused(() => metadata.hasRepository(name));
      await refused(() => uploads.create({ id: UUID, repository: name, algorithm: 'sha256' }));
    }
    for (const tag of badTags) {
      await refused(() => metadata.putTag('a', tag, DIGEST));
      await refused(() => metadata.getTag('a', tag));
      await refused(() => metadata.deleteTag('a', tag));
    }
    for (const id of badIds) {
      expect(await uploads.get(id)).toBeNull();
      expect(await uploads.delete(id)).toBe(false);
      await refused(() => uploads.create({ id, repository: 'a', algorithm: 'sha256' }));
      await refused(() => uploads.append(id, { offset: 0, body: bodyOf(SECRET) }));
      await refused(() => uploads.commit(id, { digest: sha256(Buffer.from(SECRET)), size: SECRET.length }));
      await refused(async () => {
        for await (const _ of uploads.read(id, { offset: 0, length: 1 })) {
          // never reached
        }
      });
      await uploads.saveHashState(id, { algorithm: 'sha256', offset: 0, state: Buffer.from(SECRET) });
    }
    expect(await outside()).toEqual(before);
    expect(await readFile(sentinel, 'utf8')).toBe(SECRET);
  });
});
