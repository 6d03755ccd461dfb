/**
 * File bodies (what the filesystem store returns for blobs) are sent with reused buffers: the
 * bytes must be exact however slowly the client reads, and the file must be closed however the
 * response ends.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type FileHandle, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBody, nodeStreamBody, type RegistryRequest, type RegistryResponse } from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

let dir: string;
let file: string;
const content = randomBytes(9 * 1024 * 1024 + 4321);
const servers: Server[] = [];
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-send-file-'));
  file = join(dir, 'blob');
  await writeFile(file, content);
});
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await rm(dir, { recursive: true, force: true });
});

/**
 * A server whose every response is a file body over `window` of the test file, released when the
 * request's signal aborts, as the filesystem store returns it.
 */
async function serve(window?: { offset: number; length: number }) {
  const handles: FileHandle[] = [];
  const registry = {
    async handle(request: RegistryRequest): Promise<RegistryResponse> {
      const handle = await open(file);
      handles.push(handle);
      const length = window?.length ?? content.byteLength;
      return {
        status: window ? 206 : 200,
        headers: { 'Content-Length': String(length), 'Content-Type': 'application/octet-stream' },
        body: nodeStreamBody(new FileBody(handle, window), request.signal),
      };
    },
  };
  const server = createServer(createHandler(registry));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/r/blobs/x`, handles };
}

/** GETs `url`, pausing after each chunk when `slow`; resolves status and body. */
function fetchSlowly(url: string, slow: boolean): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (slow && chunks.length % 16 === 0) {
          res.pause();
          setTimeout(() => res.resume(), 5);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('sending a file body', () => {
  it('sends the exact bytes to fast, slow and concurrent clients, and closes each file', async () => {
    const { url, handles } = await serve();
    const replies = await Promise.all([
      fetchSlowly(url, false),
      fetchSlowly(url, true),
      fetchSlowly(url, false),
      fetchSlowly(url, true),
    ]);
    for (const reply of replies) {
      expect(reply.status).toBe(200);
      expect(reply.body.byteLength).toBe(content.byteLength);
      expect(sha256(reply.body)).toBe(sha256(content));
    }
    await vi.waitFor(() => expect(handles.map((h) => h.fd)).toEqual([-1, -1, -1, -1]));
  });

  it('sends exactly a window of the file', async () => {
    const window = { offset: 1024 * 1024 + 5, length: 3 * 1024 * 1024 - 9 };
    const { url } = await serve(window);
    const reply = await fetchSlowly(url, true);
    expect(reply.status).toBe(206);
    expect(reply.body.equals(content.subarray(window.offset, window.offset + window.length))).toBe(true);
  });

  it('closes the file when the client goes away midway', async () => {
    const { url, handles } = await serve();
    await new Promise<void>((resolve, reject) => {
      const req = get(url, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.on('close', resolve);
      setTimeout(() => reject(new Error('no data')), 5000);
    });
    await vi.waitFor(() => expect(handles[0]?.fd).toBe(-1));
  });
});
