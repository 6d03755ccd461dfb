import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { createRegistry, type LogFields } from '@wharf/core';
import { type ClientErrorInfo, createHandler, handleClientErrors } from '@wharf/http-node';
import { afterEach, describe, expect, it } from 'vitest';

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

interface Served {
  port: number;
  reports: ClientErrorInfo[];
  lines: Array<{ fields: LogFields; message: string }>;
}

async function serve(options: { maxHeaderSize?: number; headersTimeout?: number } = {}): Promise<Served> {
  const reports: ClientErrorInfo[] = [];
  const lines: Served['lines'] = [];
  const server = createServer(
    {
      ...options,
      ...(options.headersTimeout ? { requestTimeout: options.headersTimeout * 2 } : {}),
      connectionsCheckingInterval: 50,
    },
    createHandler(createRegistry()),
  );
  handleClientErrors(server, {
    logger: { debug: (fields, message) => lines.push({ fields, message }) },
    onClientError: (info) => reports.push(info),
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, reports, lines };
}

/** Sends raw bytes and reads until the server closes the connection. */
async function exchange(port: number, data: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(data);
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  await once(socket, 'close');
  return text;
}

/** Status, headers and JSON body of a raw HTTP/1.1 response. */
function parse(text: string): { status: number; headers: string; body: unknown } {
  const end = text.indexOf('\r\n\r\n');
  expect(end).toBeGreaterThan(0);
  const headers = text.slice(0, end);
  return { status: Number(headers.split(' ')[1]), headers, body: JSON.parse(text.slice(end + 4)) };
}

describe('handleClientErrors', () => {
  it.each([
    ['a malformed request line', 'GARBAGE\r\n\r\n', 400, 'HPE_INVALID_METHOD'],
    ['a header without a colon', 'GET /v2/ HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n', 400, undefined],
    [
      'broken chunked framing',
      'PATCH /v2/a/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      400,
      undefined,
    ],
    [
      'oversized headers',
      `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`,
      431,
      'HPE_HEADER_OVERFLOW',
    ],
  ])('answers %s with the spec JSON error body', async (_what, request, status, code) => {
    const { port, reports, lines } = await serve({ maxHeaderSize: 2048 });
    const { status: answered, headers, body } = parse(await exchange(port, request));
    expect(answered).toBe(status);
    expect(headers).toMatch(/\r\nContent-Type: application\/json\r\n/i);
    expect(headers).toMatch(/\r\nDocker-Distribution-API-Version: registry\/2\.0\r\n/i);
    expect(body).toEqual({
      errors: [{ code: 'UNSUPPORTED', message: expect.any(String), detail: { reason: expect.any(String) } }],
    });
    // Reported exactly once, to the callback and as one debug line.
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status, answered: true });
    if (code) expect(reports[0]!.code).toBe(code);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message).toBe('malformed HTTP request');
    expect(lines[0]!.fields).toMatchObject({ code: reports[0]!.code, status, err: expect.any(Error) });
  });

  it('answers a request whose headers never finish with 408', async () => {
    const { port, reports } = await serve({ headersTimeout: 200 });
    const { status, body } = parse(await exchange(port, 'GET /v2/ HTTP/1.1\r\nHost: x\r\n'));
    expect(status).toBe(408);
    expect(body).toMatchObject({
      errors: [{ code: 'UNSUPPORTED', detail: { reason: 'ERR_HTTP_REQUEST_TIMEOUT' } }],
    });
    expect(reports).toEqual([{ code: 'ERR_HTTP_REQUEST_TIMEOUT', status: 408, answered: true }]);
  });

  it('answers an unsupported Expect with 417 and a JSON body, and still serves', async () => {
    const { port, reports } = await serve();
    const text = await exchange(port, 'PUT /v2/a/manifests/b HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n');
    const { status, headers, body } = parse(text);
    expect(status).toBe(417);
    expect(headers).toMatch(/\r\nContent-Type: application\/json\r\n/i);
    expect(body).toMatchObject({ errors: [{ code: 'UNSUPPORTED', detail: { expect: 'teapot' } }] });
    expect(reports).toEqual([{ code: 'EXPECTATION_FAILED', status: 417, answered: true }]);
    expect((await fetch(`http://127.0.0.1:${port}/v2/`)).status).toBe(200);
  });

  it('leaves well-formed requests alone', async () => {
    const { port, reports, lines } = await serve();
    const res = await fetch(`http://127.0.0.1:${port}/v2/nothing/manifests/here`);
    expect(res.status).toBe(404);
    expect(reports).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('installs on https servers too', () => {
    const server = createHttpsServer();
    handleClientErrors(server);
    expect(server.listenerCount('clientError')).toBe(1);
    expect(server.listenerCount('checkExpectation')).toBe(1);
  });
});
