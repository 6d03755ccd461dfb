#!/usr/bin/env node
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { consoleLogger, createRegistry } from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { createAuth } from './auth.js';
import { readConfig } from './config.js';
import { readGcSettings, runGcCommand, schedulePeriodicGc } from './gc.js';
import { shutdownOnSignals } from './lifecycle.js';
import { createStorage } from './storage.js';

const config = readConfig();
const gcSettings = readGcSettings();
const { storage, close } = await createStorage(config);
const logger = consoleLogger({ level: 'warn' });
const auth = await createAuth(config.auth, logger);
const registry = createRegistry({
  storage,
  logger,
  ...(auth.authorize ? { authorize: auth.authorize } : {}),
});

// `wharf gc [options]`: one collection on the configured storage, then exit.
if (process.argv[2] === 'gc') {
  const code = await runGcCommand(registry, process.argv.slice(3), gcSettings, process);
  await close();
  process.exit(code);
}

const stopGc = schedulePeriodicGc(registry, gcSettings, (line) => console.log(line));
const server = createServer(auth.route(createHandler(registry)));
// Large layers over slow links: never time a request out mid-transfer.
server.requestTimeout = 0;
server.headersTimeout = 60_000;
server.keepAliveTimeout = 65_000;

server.listen(config.port, config.host, () => {
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  console.log(`wharf listening on http://${host}:${port}`);
});

shutdownOnSignals(server, 'wharf', async () => {
  await stopGc();
  await close();
});
