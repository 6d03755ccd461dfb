import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { consoleLogger } from '@wharf/core';
// The same configuration and storage selection as the standalone server (PORT, HOST,
// WHARF_STORAGE=memory|fs|s3, WHARF_ROOT, S3_*).
import { readConfig } from '../../server/src/config.js';
import { shutdownOnSignals } from '../../server/src/lifecycle.js';
import { createStorage } from '../../server/src/storage.js';
import { createApp } from './app.js';
import { DEMO_USERS, parseUsers } from './users.js';

const config = readConfig();
const users = process.env.EXPRESS_APP_USERS ? await parseUsers(process.env.EXPRESS_APP_USERS) : DEMO_USERS;
const { storage, close } = await createStorage(config);
const { app } = createApp({
  users,
  storage,
  logger: consoleLogger({ level: 'warn' }),
});

const server = createServer(app);
// Large layers over slow links: never time a request out mid-transfer.
server.requestTimeout = 0;
server.headersTimeout = 60_000;
server.keepAliveTimeout = 65_000;

server.listen(config.port, config.host, () => {
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  console.log(`express-app listening on http://${host}:${port}`);
  console.log(
    `registry on http://${host}:${port} (storage: ${config.storage}; users: ${[...users.keys()].join(', ')})`,
  );
});

shutdownOnSignals(server, 'express-app', close);
