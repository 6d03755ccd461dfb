/**
 * The OCI distribution-spec conformance suite v1.1.1 (ported from Go, `@wharf/core/testing`), run
 * against the registry in process, over a real socket, and with automatic cross-mount off.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistry } from '@wharf/core';
import { defineOciConformanceSuite } from '@wharf/core/testing';
import { createHandler } from '@wharf/http-node';
import { afterAll, beforeAll, describe } from 'vitest';

defineOciConformanceSuite({ name: 'in process (registry.fetch)', target: { registry: createRegistry() } });

describe.sequential('over HTTP (@wharf/http-node)', () => {
  let server: Server | undefined;
  let rootUrl = '';

  beforeAll(async () => {
    const listening = createServer(createHandler(createRegistry()));
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(0, '127.0.0.1', resolve);
    });
    server = listening;
    rootUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (!server) return;
    const closing = server;
    await new Promise<void>((resolve) => {
      closing.close(() => resolve());
      closing.closeAllConnections();
    });
  });

  defineOciConformanceSuite({ name: 'socket', target: { url: () => rootUrl } });
});

defineOciConformanceSuite({
  name: 'in process, automatic cross-mount off (OCI_AUTOMATIC_CROSSMOUNT=0)',
  target: { registry: createRegistry({ features: { automaticMount: false } }) },
  env: { OCI_AUTOMATIC_CROSSMOUNT: '0' },
});
