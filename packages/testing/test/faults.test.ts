import { createHash } from 'node:crypto';
import { get } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestRegistry, type FaultRule, type TestRegistry } from '../src/index.js';

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const LAYER_SIZE = 256 * 1024;

let registry: TestRegistry | undefined;
afterEach(async () => {
  await registry?.close();
  registry = undefined;
});

/** A registry with one image whose layer is LAYER_SIZE bytes of noise; resolves the layer's path. */
async function withLayer(faults: readonly FaultRule[] = [], seed?: number): Promise<string> {
  registry = await createTestRegistry({
    images: { 'acme/app:v1': { layerSize: LAYER_SIZE } },
    faults,
    ...(seed === undefined ? {} : { seed }),
  });
  const [image] = await registry.seed({ 'acme/app:v2': { layerSize: LAYER_SIZE } });
  return `/v2/acme/app/blobs/${image!.manifests[0]!.layers[0]!.digest}`;
}

/** GETs over a socket with node:http, counting body bytes until the end or an error. */
function rawGet(
  url: string,
): Promise<{ status: number; length: string | undefined; received: number; error?: string }> {
  return new Promise((resolve) => {
    let received = 0;
    let status = 0;
    let length: string | undefined;
    const request = get(url, { agent: false }, (res) => {
      status = res.statusCode ?? 0;
      length = res.headers['content-length'];
      res.on('data', (chunk: Buffer) => {
        received += chunk.byteLength;
      });
      res.on('end', () => resolve({ status, length, received }));
      res.on('error', (error: NodeJS.ErrnoException) =>
        resolve({ status, length, received, error: error.code ?? error.message }),
      );
    });
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ status, length, received, error: error.code ?? error.message }),
    );
  });
}

/** Reads a web body chunk by chunk; resolves what arrived and the error that ended it, if any. */
async function readWeb(response: Response): Promise<{ bytes: Buffer; error?: TypeError }> {
  const chunks: Buffer[] = [];
  const reader = response.body!.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { bytes: Buffer.concat(chunks) };
      chunks.push(Buffer.from(value));
    }
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error: error as TypeError };
  }
}

describe('status faults', () => {
  it('answers 429 with Retry-After and the spec body, then lets the retry through', async () => {
    const path = await withLayer([
      { route: 'manifest', method: 'GET', times: 1, effect: { type: 'status', status: 429, retryAfter: 7 } },
    ]);
    const first = await registry!.fetch('/v2/acme/app/manifests/v1');
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('7');
    expect(await first.json()).toEqual({
      errors: [{ code: 'TOOMANYREQUESTS', message: 'too many requests' }],
    });
    expect((await registry!.fetch('/v2/acme/app/manifests/v1')).status).toBe(200);
    // Other routes were never touched.
    expect((await registry!.fetch(path)).status).toBe(200);
    expect(registry!.requests.map((r) => r.faults)).toEqual([['status'], [], []]);
  });

  it('answers 500 and 503 with their codes', async () => {
    await withLayer([
      {
        route: 'tags',
        sequence: [true, false, true],
        effect: [{ type: 'status', status: 503, retryAfter: 1 }],
      },
      { route: 'base', effect: { type: 'status', status: 500 } },
    ]);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await registry!.fetch('/v2/acme/app/tags/list')).status);
    expect(statuses).toEqual([503, 200, 503, 200]);
    const base = await registry!.fetch('/v2/');
    expect(base.status).toBe(500);
    expect(((await base.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UNKNOWN');
  });
});

describe('body faults, over a socket', () => {
  it('resets the connection after exactly N bytes of the body', async () => {
    const path = await withLayer([
      { route: 'blob', method: 'GET', effect: { type: 'reset', afterBytes: 10_000 } },
    ]);
    const result = await rawGet(`${await registry!.url()}${path}`);
    expect(result.status).toBe(200);
    expect(Number(result.length)).toBeGreaterThan(LAYER_SIZE);
    expect(result.received).toBe(10_000);
    expect(result.error).toBe('ECONNRESET');
  });

  it('truncates the body at N bytes with the full Content-Length declared', async () => {
    const path = await withLayer([
      { route: 'blob', method: 'GET', effect: { type: 'truncate', afterBytes: 4096 } },
    ]);
    const url = `${await registry!.url()}${path}`;
    const result = await rawGet(url);
    expect(Number(result.length)).toBeGreaterThan(LAYER_SIZE);
    expect(result.received).toBe(4096);
    expect(result.error).toBeDefined();
    // fetch (undici) sees the short body as an error, not as a complete download.
    await expect((await fetch(url)).arrayBuffer()).rejects.toThrow();
  });

  it('drops the connection before any response', async () => {
    await withLayer([{ route: 'manifest', effect: { type: 'reset', afterBytes: 0 } }]);
    const url = await registry!.url();
    const result = await rawGet(`${url}/v2/acme/app/manifests/v1`);
    expect(result.status).toBe(0);
    expect(result.error).toMatch(/ECONNRESET|socket hang up/);
    expect(registry!.requests.at(-1)!.status).toBe(0);
  });
});

describe('body faults, in process', () => {
  it('errors the body stream after N bytes as undici does on a reset', async () => {
    const path = await withLayer([{ route: 'blob', effect: { type: 'reset', afterBytes: 70_000 } }]);
    const response = await registry!.fetch(path);
    expect(response.status).toBe(200);
    const { bytes, error } = await readWeb(response);
    expect(bytes.byteLength).toBe(70_000);
    expect(error).toBeInstanceOf(TypeError);
    expect(error!.message).toBe('terminated');
    expect((error!.cause as NodeJS.ErrnoException).code).toBe('ECONNRESET');
  });

  it('ends a truncated body with the error undici gives for a closed socket', async () => {
    const path = await withLayer([{ route: 'blob', effect: { type: 'truncate', afterBytes: 123 } }]);
    const { bytes, error } = await readWeb(await registry!.fetch(path));
    expect(bytes.byteLength).toBe(123);
    expect((error!.cause as NodeJS.ErrnoException).code).toBe('UND_ERR_SOCKET');
  });

  it('rejects fetch itself when the connection drops before a response', async () => {
    await withLayer([{ route: 'base', effect: { type: 'reset', afterBytes: 0 } }]);
    const failure = await registry!.fetch('/v2/').catch((error: TypeError) => error);
    expect(failure).toBeInstanceOf(TypeError);
    expect((failure as TypeError).message).toBe('fetch failed');
    expect(((failure as TypeError).cause as NodeJS.ErrnoException).code).toBe('ECONNRESET');
  });

  it('corrupts one byte at the offset, keeping the length', async () => {
    const path = await withLayer();
    const good = Buffer.from(await (await registry!.fetch(path)).arrayBuffer());
    registry!.faults.add({ route: 'blob', effect: { type: 'corrupt', atByte: 1000 } });
    const bad = Buffer.from(await (await registry!.fetch(path)).arrayBuffer());
    expect(bad.byteLength).toBe(good.byteLength);
    expect(sha256(bad)).not.toBe(sha256(good));
    const differing = [...bad.keys()].filter((i) => bad[i] !== good[i]);
    expect(differing).toEqual([1000]);
    expect(bad[1000]).toBe(good[1000]! ^ 0xff);
  });
});

describe('header faults', () => {
  it('adds a Warning header and replaces Docker-Content-Digest with a wrong one', async () => {
    await withLayer([
      {
        route: 'manifest',
        effect: [{ type: 'warning', text: 'this repository is deprecated' }, { type: 'wrong-digest' }],
      },
    ]);
    const response = await registry!.fetch('/v2/acme/app/manifests/v1');
    const body = Buffer.from(await response.arrayBuffer());
    expect(response.headers.get('warning')).toBe('299 - "this repository is deprecated"');
    expect(response.headers.get('docker-content-digest')).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(response.headers.get('docker-content-digest')).not.toBe(sha256(body));
  });

  it('delays requests by the latency given', async () => {
    await withLayer([{ route: 'base', effect: { type: 'latency', ms: 150 } }]);
    const started = performance.now();
    expect((await registry!.fetch('/v2/')).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(registry!.requests[0]!.faults).toEqual(['latency']);
  });
});

describe('choosing which requests fail', () => {
  async function pattern(seed: number): Promise<string> {
    await registry?.close();
    await withLayer([{ route: 'base', probability: 0.5, effect: { type: 'status', status: 503 } }], seed);
    let result = '';
    for (let i = 0; i < 40; i++) result += (await registry!.fetch('/v2/')).status === 503 ? 'x' : '.';
    return result;
  }

  it('draws probabilities from the seed: same seed, same faults', async () => {
    const first = await pattern(7);
    expect(first).toMatch(/x/);
    expect(first).toMatch(/\./);
    expect(await pattern(7)).toBe(first);
    expect(await pattern(8)).not.toBe(first);
    await registry!.reset();
    let again = '';
    for (let i = 0; i < 40; i++) again += (await registry!.fetch('/v2/')).status === 503 ? 'x' : '.';
    expect(again).toBe(await pattern(8));
  });

  it('honours after, times, method and repository, and rules added and removed at run time', async () => {
    await withLayer();
    const remove = registry!.faults.add({
      name: 'flaky-pushes',
      route: 'blob-upload',
      method: 'POST',
      repository: /^acme\//,
      after: 1,
      times: 2,
      effect: { type: 'status', status: 503 },
    });
    const post = (repository: string) =>
      registry!.fetch(`/v2/${repository}/blobs/uploads/`, { method: 'POST' });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await post('acme/app')).status);
    expect(statuses).toEqual([202, 503, 503, 202, 202]);
    expect((await post('other/app')).status).toBe(202);
    expect(registry!.faults.list()).toEqual([{ name: 'flaky-pushes', matched: 5, injected: 2 }]);
    remove();
    expect(registry!.faults.list()).toEqual([]);
  });

  it('refuses rules that cannot work', async () => {
    await withLayer();
    expect(() => registry!.faults.add({ probability: 2, effect: { type: 'latency', ms: 1 } })).toThrow(
      RangeError,
    );
    expect(() => registry!.faults.add({ effect: { type: 'reset', afterBytes: -1 } })).toThrow(RangeError);
  });
});
