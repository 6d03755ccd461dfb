/**
 * The OCI distribution-spec conformance suite v1.1.1, ported from Go (see `oci-conformance/`), run
 * against the registry in process, over a real socket, and with automatic cross-mount off.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistry, type RegistryOptions } from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { afterAll, beforeAll, describe } from 'vitest';
import { GoClient, type Transport } from './oci-conformance/goclient.js';
import { configFromEnv, generateTestData } from './oci-conformance/setup.js';
import { defineConformanceSuite } from './oci-conformance/suite.js';
import { IN_PROCESS_ORIGIN, inProcessTransport, socketTransport } from './oci-conformance/transports.js';

/** The environment the conformance suite is run with (OCI_ROOT_URL comes from the variant). */
const ENV: Readonly<Record<string, string | undefined>> = {
  OCI_NAMESPACE: 'myorg/myrepo',
  OCI_TEST_PULL: '1',
  OCI_TEST_PUSH: '1',
  OCI_TEST_CONTENT_DISCOVERY: '1',
  OCI_TEST_CONTENT_MANAGEMENT: '1',
  OCI_AUTOMATIC_CROSSMOUNT: '1',
};

function defineVariant(
  env: Readonly<Record<string, string | undefined>>,
  rootUrl: () => string,
  transport: Transport,
): void {
  const config = configFromEnv(env);
  const client = new GoClient(rootUrl, config.namespace, transport);
  describe.sequential('OCI Distribution Conformance Tests', () => {
    defineConformanceSuite({ config, data: generateTestData(env), client });
  });
}

function inProcess(options: RegistryOptions, env: Readonly<Record<string, string | undefined>>): void {
  defineVariant(env, () => IN_PROCESS_ORIGIN, inProcessTransport(createRegistry(options)));
}

describe.sequential('in process (registry.fetch)', () => {
  inProcess({}, ENV);
});

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

  defineVariant(ENV, () => rootUrl, socketTransport());
});

describe.sequential('in process, automatic cross-mount off (OCI_AUTOMATIC_CROSSMOUNT=0)', () => {
  inProcess({ features: { automaticMount: false } }, { ...ENV, OCI_AUTOMATIC_CROSSMOUNT: '0' });
});
