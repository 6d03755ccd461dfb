import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { consoleLogger } from '@wharf/core';
// Storage is chosen as for the standalone server (WHARF_STORAGE=memory|fs|s3, WHARF_ROOT, S3_*,
// or REGISTRY_STORAGE_* variables), except that this app keeps everything in memory by default.
import { formatProblem, loadConfig } from '../../../packages/server/src/config/load.js';
import { shutdownOnSignals } from '../../../packages/server/src/lifecycle.js';
import { createStorage } from '../../../packages/server/src/storage/index.js';
import { createApp } from './app.js';
import { DEMO_USERS, parseUsers } from './users.js';

const env = process.env;
const { settings, problems } = await loadConfig({ env: { WHARF_STORAGE: 'memory', ...env } });
if (!settings) {
  for (const problem of problems) console.error(`express-app: ${formatProblem(problem)}`);
  process.exit(2);
}
const users = env.EXPRESS_APP_USERS ? await parseUsers(env.EXPRESS_APP_USERS) : DEMO_USERS;
const { storage, close } = await createStorage(settings.storage);
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

const host = env.HOST || '127.0.0.1';
server.listen(Number(env.PORT || 5000), host, () => {
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  console.log(`express-app listening on http://${shown}:${port}`);
  console.log(
    `registry on http://${shown}:${port} (storage: ${settings.storage.driver}; users: ${[...users.keys()].join(', ')})`,
  );
});

shutdownOnSignals(server, 'express-app', close);
