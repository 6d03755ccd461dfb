// Baseline: a plain node:http PUT that sha256-hashes, writes and fsyncs the body, then renames it.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const dir = process.argv[2]!;
let counter = 0;
const server = createServer(async (req, res) => {
  const temp = join(dir, `upload-${process.pid}-${counter++}`);
  const hash = createHash('sha256');
  try {
    await pipeline(
      req,
      new Transform({
        transform(chunk, _encoding, done) {
          hash.update(chunk);
          done(null, chunk);
        },
      }),
      createWriteStream(temp, { highWaterMark: 1024 * 1024 }),
    );
    const handle = await open(temp, 'r+');
    await handle.sync();
    await handle.close();
    const digest = hash.digest('hex');
    await rename(temp, join(dir, digest));
    res.writeHead(201, { 'Docker-Content-Digest': `sha256:${digest}`, 'Content-Length': '0' });
    res.end();
  } catch {
    await rm(temp, { force: true });
    res.writeHead(500).end();
  }
});
server.listen(0, '127.0.0.1', () => {
  console.log(`raw listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
