// Baseline: the fastest plain node:http static-file GET of one file (argv[2]).
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';

const file = process.argv[2]!;
const server = createServer((req, res) => {
  const { size } = statSync(file);
  res.writeHead(200, { 'Content-Length': String(size), 'Content-Type': 'application/octet-stream' });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), res, () => {});
});
server.listen(0, '127.0.0.1', () => {
  console.log(`raw listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
