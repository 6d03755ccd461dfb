// Ceiling for the cold pull through a cache: a blob GET forwarded to the upstream (argv[2]), whose
// body is hashed as it streams to the client and checked against the digest the path names, as any
// verifying cache must, and stored nowhere. It reads the upstream's answer straight off the socket
// into one reused buffer (no node:http client: the cheapest receive path Node offers), so what the
// benchmark's client reaches through it is the most a cache can show in proxy-cold on this machine.
// Enough HTTP for the benchmark's upstream only: one request per connection, a Content-Length body.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';

const upstream = new URL(process.argv[2]!);

const server = createServer((req, res) => {
  const expected = /\/blobs\/sha256:([0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
  const hash = createHash('sha256');
  let head: Buffer | undefined = Buffer.alloc(0);
  let length = 0;
  let received = 0;
  // The newest chunk is held back until the digest is checked: a client that received every byte
  // it was promised takes the blob as complete (wharf holds back its last byte likewise).
  let held: Buffer | undefined;
  const body = (bytes: Buffer): void => {
    hash.update(bytes);
    received += bytes.byteLength;
    const ready = held;
    held = Buffer.from(bytes); // the read buffer is reused
    if (ready && !res.write(ready)) {
      socket.pause();
      res.once('drain', () => socket.resume());
    }
    if (received < length) return;
    socket.destroy();
    if (hash.digest('hex') === expected) res.end(held);
    else res.destroy();
  };
  const socket = connect({
    host: upstream.hostname,
    port: Number(upstream.port),
    onread: {
      buffer: Buffer.allocUnsafe(256 * 1024),
      callback: (size: number, buffer: Uint8Array): boolean => {
        const bytes = Buffer.from(buffer.buffer, buffer.byteOffset, size);
        if (!head) {
          body(bytes);
          return true;
        }
        head = Buffer.concat([head, bytes]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return true;
        const text = head.subarray(0, end).toString('latin1');
        const rest = head.subarray(end + 4);
        head = undefined;
        length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1] ?? 0);
        res.writeHead(Number(text.split(' ')[1]), { 'Content-Length': String(length) });
        if (rest.byteLength > 0 || length === 0) body(rest);
        return true;
      },
    },
  });
  socket.on('error', () => res.destroy());
  res.on('close', () => socket.destroy());
  socket.write(`GET ${req.url} HTTP/1.1\r\nHost: ${upstream.host}\r\nConnection: close\r\n\r\n`);
});
server.listen(0, '127.0.0.1', () => {
  console.log(`raw listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
