// A webhook receiver in its own process, as a real one is: reads each POST, counts the events in
// its envelope (distribution's `{"events": [...]}`) and answers 200. `GET /count` answers how
// many events (and requests) it has received, so the benchmark can tell when delivery has caught up.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let received = 0;
let requests = 0;
const server = createServer((req, res) => {
  if (req.method === 'GET') {
    res
      .writeHead(200, { 'Content-Type': 'application/json' })
      .end(JSON.stringify({ events: received, requests }));
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    try {
      const { events } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events?: unknown[] };
      received += events?.length ?? 0;
      requests++;
      res.writeHead(200).end();
    } catch {
      res.writeHead(400).end();
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  console.log(`raw listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
