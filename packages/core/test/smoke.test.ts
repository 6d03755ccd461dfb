import { createHash } from 'node:crypto';
import { createRegistry } from '@wharf/core';
import { describe, expect, it } from 'vitest';

describe('smoke', () => {
  it('pings and pushes a blob', async () => {
    const registry = createRegistry();
    const ping = await registry.fetch('/v2/');
    expect(ping.status).toBe(200);
    expect(ping.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    const data = Buffer.from('hello');
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const post = await registry.fetch(`/v2/a/b/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: data,
    });
    expect(post.status).toBe(201);
    const get = await registry.fetch(`/v2/a/b/blobs/${digest}`);
    expect(get.status).toBe(200);
    expect(Buffer.from(await get.arrayBuffer()).toString()).toBe('hello');
  });
});
