import { z } from 'zod';
import { duration } from '../units.js';

const tls = z.strictObject({
  certificate: z.string().optional().describe('PEM certificate (chain) file; serves HTTPS with `key`.'),
  key: z.string().optional().describe('PEM private key file of `certificate`.'),
  clientcas: z
    .array(z.string())
    .optional()
    .describe('PEM files of CAs whose client certificates are required (mutual TLS).'),
  minimumtls: z
    .enum(['tls1.0', 'tls1.1', 'tls1.2', 'tls1.3'])
    .default('tls1.2')
    .describe('Lowest TLS version accepted.'),
});

/** `http`: distribution's listener settings. */
export const httpSection = z
  .strictObject({
    addr: z
      .string()
      .default('127.0.0.1:5000')
      .describe(
        'Where to listen: `host:port`, `:port` (every interface) or, with `net: unix`, a socket path.',
      ),
    net: z.enum(['tcp', 'unix']).default('tcp').describe('`tcp` or `unix` (a Unix domain socket at `addr`).'),
    prefix: z
      .string()
      .regex(/^\/(?:[^/?#\s]+\/)*$/, 'must start and end with / (e.g. /registry/)')
      .default('/')
      .describe('Path the registry is served under (`/registry/` serves `/registry/v2/`).'),
    host: z
      .url()
      .optional()
      .describe('Externally reachable URL of the registry; the default token realm is `<host>/token`.'),
    headers: z
      .record(z.string(), z.union([z.string(), z.array(z.string())]))
      .optional()
      .describe('Headers added to every response (e.g. `X-Content-Type-Options: [nosniff]`).'),
    draintimeout: duration()
      .default('5s')
      .describe('On SIGTERM/SIGINT, how long transfers in flight may finish before connections are cut.'),
    tls: tls.optional(),
    http2: z
      .strictObject({
        disabled: z.boolean().default(false).describe('Turns off HTTP/2 (offered over TLS only).'),
      })
      .prefault({}),
    debug: z
      .strictObject({
        addr: z
          .string()
          .optional()
          .describe('Address of the debug server (`/metrics`, `/healthz`, `/readyz`); off when unset.'),
        prometheus: z
          .strictObject({
            enabled: z.boolean().default(false).describe('Serves Prometheus metrics on the debug server.'),
            path: z.string().startsWith('/').default('/metrics').describe('Path of the metrics.'),
          })
          .prefault({}),
      })
      .prefault({}),
  })
  .prefault({});
