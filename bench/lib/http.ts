import { createHash } from 'node:crypto';
import { Agent, type IncomingMessage, request } from 'node:http';

/** Keep-alive connections, as real clients use. */
export const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** One request; the body is a buffer (sent with Content-Length) or absent. */
export function send(
  base: string,
  method: string,
  path: string,
  body?: Uint8Array,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: {
          ...headers,
          ...(body ? { 'Content-Length': String(body.byteLength) } : { 'Content-Length': '0' }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Downloads a resource, hashing it as it arrives; resolves its size and sha256 digest. */
export function download(
  base: string,
  path: string,
): Promise<{ status: number; size: number; digest: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      const hash = createHash('sha256');
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        hash.update(chunk);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, size, digest: `sha256:${hash.digest('hex')}` }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves a Location header against the base URL, keeping path and query. */
export function locationOf(reply: Reply): string {
  const location = reply.headers.location;
  if (!location) throw new Error(`no Location (status ${reply.status}): ${reply.body.toString()}`);
  const url = new URL(location, 'http://x');
  return url.pathname + url.search;
}

export function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

export { sha256 } from '@wharf/test-utils';

export function expectStatus(reply: Reply, status: number, what: string): void {
  if (reply.status !== status)
    throw new Error(
      `${what}: expected ${status}, got ${reply.status}: ${reply.body.toString().slice(0, 300)}`,
    );
}
