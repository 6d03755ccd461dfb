// Ceiling: a GET of one file's bytes (argv[2]) held in memory, written in one call: no disk, no
// hashing, nothing a registry could do less of. What the benchmark's client reaches with it is
// the most any server can show in the pull scenario on this machine.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const bytes = readFileSync(process.argv[2]!);
const server = createServer((req, res) => {
  res.writeHead(200, {
    'Content-Length': String(bytes.byteLength),
    'Content-Type': 'application/octet-stream',
  });
  res.end(req.method === 'HEAD' ? undefined : bytes);
});
server.listen(0, '127.0.0.1', () => {
  console.log(`raw listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
