import { createHash } from 'node:crypto';
import {
  consoleLogger,
  createMemoryStorage,
  createRegistry,
  type LogFields,
  type Logger,
  OptionsError,
  type RequestFinishedEvent,
  type StorageOperationEvent,
} from '@wharf/core';
import { describe, expect, it, vi } from 'vitest';

interface Line {
  level: string;
  fields: LogFields;
  message: string;
}

/** A logger with pino's call shape that keeps every line. */
function recordingLogger(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (fields: LogFields, message: string) =>
    lines.push({ level, fields, message });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Storage whose blob stat fails like a broken disk. */
function brokenStorage() {
  const storage = createMemoryStorage();
  storage.blobs.stat = async () => {
    throw new Error('disk on fire');
  };
  return storage;
}

describe('logging', () => {
  it('logs a 500 with its error, stack, method, path, status and request id, fields first', async () => {
    const { logger, lines } = recordingLogger();
    const registry = createRegistry({ storage: brokenStorage(), logger });
    const res = await registry.fetch(`/v2/a/blobs/${digestOf(Buffer.from('x'))}`, {
      headers: { 'X-Request-Id': 'req-42' },
    });
    expect(res.status).toBe(500);
    expect(res.headers.get('x-request-id')).toBe('req-42');
    const line = lines.find((l) => l.level === 'error');
    expect(line?.message).toBe('request failed');
    expect(line?.fields).toMatchObject({ reqId: 'req-42', method: 'GET', status: 500, code: 'UNKNOWN' });
    expect(line?.fields.path).toBe(`/v2/a/blobs/${digestOf(Buffer.from('x'))}`);
    const err = line?.fields.err as Error | undefined;
    expect(err?.message).toBe('disk on fire');
    expect(err?.stack).toContain('disk on fire');
  });

  it('logs a request abandoned by its client at debug level, not as a failure', async () => {
    const { logger, lines } = recordingLogger();
    const registry = createRegistry({ logger });
    const controller = new AbortController();
    const body = new ReadableStream<Uint8Array>({
      pull(stream) {
        stream.enqueue(new Uint8Array(1024));
        controller.abort(new Error('client disconnected'));
        stream.error(new Error('aborted'));
      },
    });
    const res = await registry.fetch(`/v2/a/blobs/uploads/?digest=${digestOf(Buffer.from('never'))}`, {
      method: 'POST',
      body,
      duplex: 'half',
      signal: controller.signal,
    } as RequestInit);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(lines.some((l) => l.level === 'debug' && l.message === 'request abandoned by the client')).toBe(
      true,
    );
  });

  it('keeps expected 4xx at debug level', async () => {
    const { logger, lines } = recordingLogger();
    const registry = createRegistry({ logger });
    expect((await registry.fetch('/v2/a/manifests/latest')).status).toBe(404);
    expect(lines.map((l) => l.level)).toEqual(['debug']);
    expect(lines[0]?.fields).toMatchObject({ status: 404, code: 'MANIFEST_UNKNOWN', method: 'GET' });
  });

  it('writes 5xx to stderr by default and nothing for 4xx', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const registry = createRegistry({ storage: brokenStorage() });
      await registry.fetch('/v2/a/manifests/latest');
      expect(spy).not.toHaveBeenCalled();
      await registry.fetch(`/v2/a/blobs/${digestOf(Buffer.from('y'))}`);
      expect(spy).toHaveBeenCalledTimes(1);
      const [line, err] = spy.mock.calls[0] as [string, Error];
      expect(line).toMatch(/^request failed reqId=\S+ method=GET path=\/v2\/a\/blobs\/sha256:\w+ status=500/);
      expect(err.message).toBe('disk on fire');
    } finally {
      spy.mockRestore();
    }
  });

  it('is silenced by an empty logger', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const registry = createRegistry({ storage: brokenStorage(), logger: {} });
      expect((await registry.fetch(`/v2/a/blobs/${digestOf(Buffer.from('z'))}`)).status).toBe(500);
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('consoleLogger writes one line per call at or above its level', () => {
    const calls: unknown[][] = [];
    const sink = {
      debug: (...a: unknown[]) => calls.push(['debug', ...a]),
      info: (...a: unknown[]) => calls.push(['info', ...a]),
      warn: (...a: unknown[]) => calls.push(['warn', ...a]),
      error: (...a: unknown[]) => calls.push(['error', ...a]),
    };
    const log = consoleLogger({ console: sink, level: 'info' });
    log.debug({ a: 1 }, 'hidden');
    log.info({ user: 'ci', n: 2, skipped: undefined }, 'hello');
    const err = new Error('boom');
    log.error({ err }, 'failed');
    expect(calls).toEqual([
      ['info', 'hello user=ci n=2'],
      ['error', 'failed', err],
    ]);
    consoleLogger({ console: sink, level: 'silent' }).error({}, 'nothing');
    expect(calls).toHaveLength(2);
  });

  it('generates a request id when the client sends none or an unusable one', async () => {
    const registry = createRegistry({ logger: {} });
    const plain = (await registry.fetch('/v2/')).headers.get('x-request-id');
    expect(plain).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await registry.fetch('/v2/', { headers: { 'X-Request-Id': `a b${'x'.repeat(300)}` } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(hostile.headers.get('x-request-id')).not.toBe(plain);
  });
});

describe('observer', () => {
  it('reports each request once its body was sent: route, action, repository, user, bytes', async () => {
    const finished: RequestFinishedEvent[] = [];
    const started: string[] = [];
    const registry = createRegistry({
      logger: {},
      authorize: ({ request }) => ({ allow: true, user: request.headers.get('x-user') ?? 'anonymous' }),
      observer: {
        requestStarted: (e) => started.push(e.requestId),
        requestFinished: (e) => finished.push(e),
      },
    });
    const blob = Buffer.from('observed bytes');
    const digest = digestOf(blob);
    const put = await registry.fetch(`/v2/team/app/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: blob,
      headers: { 'Content-Type': 'application/octet-stream', 'X-User': 'ci' },
    });
    expect(put.status).toBe(201);
    const get = await registry.fetch(`/v2/team/app/blobs/${digest}`);
    expect(finished).toHaveLength(1); // the GET's body is not read yet
    expect(Buffer.from(await get.arrayBuffer()).equals(blob)).toBe(true);
    await registry.fetch('/v2/team/app/manifests/nope');
    expect(started).toHaveLength(3);
    expect(finished.map((e) => e.requestId)).toEqual(started);
    const [push, pull, missing] = finished;
    expect(push).toMatchObject({
      method: 'POST',
      route: 'blob-upload',
      action: 'push',
      repository: 'team/app',
      user: 'ci',
      status: 201,
      errorCode: undefined,
      bytesIn: blob.byteLength,
      bytesOut: 0,
      aborted: false,
    });
    expect(pull).toMatchObject({ route: 'blob', action: 'pull', status: 200, bytesOut: blob.byteLength });
    expect(pull?.user).toBe('anonymous');
    expect(missing).toMatchObject({ route: 'manifest', status: 404, errorCode: 'MANIFEST_UNKNOWN' });
    for (const e of finished) expect(e.durationSeconds).toBeGreaterThan(0);
  });

  it('reports an abandoned response body as aborted', async () => {
    const finished: RequestFinishedEvent[] = [];
    const registry = createRegistry({ logger: {}, observer: { requestFinished: (e) => finished.push(e) } });
    const blob = Buffer.alloc(300_000, 7);
    const digest = digestOf(blob);
    await registry.fetch(`/v2/a/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob });
    const res = await registry.fetch(`/v2/a/blobs/${digest}`);
    await res.body?.cancel();
    expect(finished.at(-1)).toMatchObject({ route: 'blob', status: 200, aborted: true });
  });

  it('times store calls and survives an observer that throws', async () => {
    const operations: StorageOperationEvent[] = [];
    const { logger, lines } = recordingLogger();
    const registry = createRegistry({
      logger,
      observer: {
        storageOperation: (e) => operations.push(e),
        requestFinished: () => {
          throw new Error('observer bug');
        },
      },
    });
    expect((await registry.fetch('/v2/a/tags/list')).status).toBe(404);
    expect(operations.length).toBeGreaterThan(0);
    expect(
      operations.every((e) => e.store === 'metadata' || e.store === 'blobs' || e.store === 'uploads'),
    ).toBe(true);
    expect(operations.every((e) => e.ok && e.durationSeconds >= 0)).toBe(true);
    expect(lines.some((l) => l.level === 'warn' && l.message === 'observer failed')).toBe(true);

    const failing = createRegistry({
      logger: {},
      storage: brokenStorage(),
      observer: { storageOperation: (e) => operations.push(e) },
    });
    await failing.fetch(`/v2/a/blobs/${digestOf(Buffer.from('q'))}`);
    expect(operations.at(-1)).toMatchObject({ store: 'blobs', operation: 'stat', ok: false });
  });
});

describe('OptionsError', () => {
  it('names the factory, the option and the problem', () => {
    const error = new OptionsError('createFsStorage', 'root', 'must be a non-empty path');
    expect(error.message).toBe('createFsStorage: option "root" must be a non-empty path');
    expect([error.name, error.factory, error.option]).toEqual(['OptionsError', 'createFsStorage', 'root']);
  });
});
