import { once } from 'node:events';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type BlobStore, createMemoryStorage, createRegistry } from '@wharf/core';
import { wharf } from '@wharf/http-express';
import { createHandler } from '@wharf/http-node';
import express from 'express';
import pino from 'pino';

/**
 * Run by the consumer test from the installed tarballs (as ESM and as CommonJS): a pino logger
 * receives a 500 caused by a failing store, and the 500 of a request whose body a host body parser
 * consumed. Prints what the client saw and the log lines as JSON for the test to check.
 */
type Line = Record<string, unknown>;

async function serve(listener: RequestListener, run: (url: string) => Promise<Response>): Promise<Response> {
  const server = createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    return await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

async function outcome(response: Response, lines: Line[]) {
  return {
    status: response.status,
    requestId: response.headers.get('x-request-id'),
    body: await response.text(),
    lines,
  };
}

export async function main(): Promise<void> {
  const blob = Buffer.from('hello');
  const digest = `sha256:${(await import('node:crypto')).createHash('sha256').update(blob).digest('hex')}`;

  // A store that fails to read blobs: the GET is a 500, logged at error with the error's stack.
  const storeLines: Line[] = [];
  const storage = createMemoryStorage();
  const blobs: BlobStore = {
    stat: (d) => storage.blobs.stat(d),
    open: async () => {
      throw new Error('disk on fire');
    },
    put: (d, source, options) => storage.blobs.put(d, source, options),
    delete: (d, options) => storage.blobs.delete(d, options),
    list: () => storage.blobs.list(),
  };
  const registry = createRegistry({
    storage: { ...storage, blobs },
    logger: pino({ level: 'debug' }, { write: (line: string) => storeLines.push(JSON.parse(line) as Line) }),
  });
  const failure = await serve(createHandler(registry), async (url) => {
    const push = await fetch(`${url}/v2/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob });
    if (push.status !== 201) throw new Error(`push answered ${push.status}`);
    return fetch(`${url}/v2/app/blobs/${digest}`);
  });

  // A host that parses every body as JSON before the registry: a manifest push is a 500 that says why.
  const parserLines: Line[] = [];
  const parsed = createRegistry({
    logger: pino({ level: 'debug' }, { write: (line: string) => parserLines.push(JSON.parse(line) as Line) }),
  });
  const app = express();
  app.use(express.json({ type: '*/*' }));
  app.use(wharf(parsed));
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [],
  });
  const bodyParser = await serve(app, (url) =>
    fetch(`${url}/v2/app/manifests/v1`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' },
      body: manifest,
    }),
  );

  console.log(
    JSON.stringify({
      failure: await outcome(failure, storeLines),
      bodyParser: await outcome(bodyParser, parserLines),
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
