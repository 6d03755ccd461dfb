import { z } from 'zod';
import { byteSize, duration } from '../units.js';

const rule = z.strictObject({
  users: z.union([z.string(), z.array(z.string())]).optional(),
  repositories: z.union([z.string(), z.array(z.string())]).optional(),
  actions: z.array(z.string()).min(1),
});

const auth = z
  .strictObject({
    token: z
      .strictObject({
        htpasswd: z
          .string()
          .min(1)
          .describe('htpasswd file of the users who sign in (bcrypt). Reloaded on SIGHUP.'),
        realm: z
          .url()
          .optional()
          .describe(
            'The token endpoint’s URL as clients reach it; served at its path. Default: `/token` on the host clients used.',
          ),
        service: z
          .string()
          .min(1)
          .default('wharf')
          .describe('Service name: the challenge’s `service`, the tokens’ `aud`.'),
        issuer: z.string().min(1).default('wharf').describe('The tokens’ `iss`.'),
        key: z
          .string()
          .optional()
          .describe(
            'PEM private key tokens are signed with (EC P-256 → ES256, RSA → RS256). Default: a new key per process.',
          ),
        ttl: duration().default('5m').describe('Lifetime of a token.'),
      })
      .optional()
      .describe('Docker token authentication with wharf’s built-in token endpoint.'),
    rules: z
      .union([z.string(), z.array(rule)])
      .optional()
      .describe(
        'Access rules (`{users, repositories, actions}`), or a JSON file of them. Default: signed-in users may do everything, as in distribution.',
      ),
    admins: z.array(z.string()).default([]).describe('Users allowed everything.'),
    anonymouspull: z
      .boolean()
      .default(false)
      .describe('Clients without credentials may pull every repository.'),
    ratelimit: z
      .union([
        z.literal(false),
        z.strictObject({
          attempts: z.number().int().positive().default(10),
          window: duration().default('60s'),
        }),
      ])
      .default({ attempts: 10, window: '60s' })
      .describe(
        'Failed sign-ins allowed per client address and user per window (then 429); `false` disables.',
      ),
  })
  .prefault({});

const features = z
  .strictObject({
    deletemanifests: z.boolean().optional().describe('Manifest deletes; default `storage.delete.enabled`.'),
    deletetags: z.boolean().optional().describe('Tag deletes; default `storage.delete.enabled`.'),
    deleteblobs: z.boolean().optional().describe('Blob deletes; default `storage.delete.enabled`.'),
    referrers: z.boolean().default(true).describe('The referrers API and `OCI-Subject`.'),
    mount: z.boolean().default(true).describe('Cross-repository blob mounts (`?mount=&from=`).'),
    automaticmount: z
      .boolean()
      .default(true)
      .describe('Mounts without `from` when the blob exists elsewhere (never under access control).'),
    tagsonpush: z.boolean().default(true).describe('`?tag=` on manifest pushes by digest.'),
    monolithicpost: z.boolean().default(true).describe('Single-request `POST ?digest=` uploads.'),
    sparsemanifests: z
      .boolean()
      .default(false)
      .describe('Accept manifests whose blobs are not in the repository.'),
    conditionaltagupdates: z.boolean().default(true).describe('`If-Match` / `If-None-Match` on tag pushes.'),
  })
  .prefault({});

const limits = z
  .strictObject({
    manifestmaxbytes: byteSize({ min: 1 }).default('4MiB').describe('Largest manifest accepted (413 above).'),
    blobmaxbytes: byteSize({ min: 1 })
      .optional()
      .describe('Largest blob accepted (413 above). Default unlimited.'),
    chunkmaxlength: byteSize({ min: 1 })
      .optional()
      .describe('Largest upload chunk (413 above). Default unlimited.'),
    chunkminlength: byteSize()
      .optional()
      .describe('Advertised `OCI-Chunk-Min-Length`. Default: the storage’s.'),
    tagsperpush: z
      .number()
      .int()
      .positive()
      .default(100)
      .describe('Most `?tag=` values in one push (414 above).'),
    pagesize: z
      .number()
      .int()
      .positive()
      .default(1000)
      .describe('Largest page of tags, repositories or referrers.'),
  })
  .prefault({});

const gc = z
  .strictObject({
    interval: duration().optional().describe('Runs garbage collection this often (online). Default off.'),
    graceperiod: duration().default('1h').describe('Content younger than this is never collected.'),
    deleteuntagged: z.boolean().default(false).describe('Also collect manifests no tag reaches.'),
  })
  .prefault({});

const upstream = z.strictObject({
  namespace: z
    .string()
    .min(1)
    .describe(
      'The registry host clients name (`docker.io`, `ghcr.io`): what a mirror request’s `?ns=` selects.',
    ),
  url: z.url().describe('The upstream’s base URL (`https://registry-1.docker.io`).'),
  prefix: z
    .string()
    .optional()
    .describe(
      'Repositories under this prefix are the upstream’s, without it (`hub/`: `hub/library/alpine` is `library/alpine`). Default: the namespace and `/`; `""` for every repository.',
    ),
  username: z.string().optional().describe('User name at the upstream (with `password`).'),
  password: z
    .string()
    .optional()
    .meta({ secret: true })
    .describe('Password or access token at the upstream.'),
  token: z
    .string()
    .optional()
    .meta({ secret: true })
    .describe('A bearer token sent as it is, instead of `username` and `password`.'),
  tagfreshness: duration()
    .default('1m')
    .describe('How long a cached tag is served before the upstream is asked again.'),
  allow: z
    .array(z.string())
    .optional()
    .describe('Upstream repositories that may be pulled (globs: `*`, `**`). Default all.'),
  deny: z.array(z.string()).optional().describe('Upstream repositories that may not be pulled.'),
  maxconcurrency: z
    .number()
    .int()
    .positive()
    .default(16)
    .describe('Most requests in flight to the upstream.'),
  localoverrides: z
    .boolean()
    .default(false)
    .describe('Accept pushes under the prefix; pushed tags are served instead of the upstream’s.'),
  timeouts: z
    .strictObject({
      request: duration().default('30s').describe('Until the upstream’s response headers.'),
      revalidate: duration()
        .default('3s')
        .describe('How long a cached tag waits for the upstream before it is served stale.'),
      idle: duration().default('60s').describe('Longest pause in an upstream body.'),
    })
    .prefault({}),
  cache: z
    .strictObject({
      maxunusedage: duration()
        .optional()
        .describe('Cached images not pulled for this long are removed by garbage collection.'),
      maxbytes: byteSize()
        .optional()
        .describe('Beyond this, garbage collection removes the least recently pulled cached images.'),
    })
    .prefault({}),
  spooldirectory: z
    .string()
    .optional()
    .describe('Where cold blobs are spooled while they stream. Default: the system’s temporary directory.'),
});

/** `wharf`: what distribution has no word for. */
export const wharfSection = z
  .strictObject({
    auth,
    features,
    limits,
    gc,
    redirectexpiry: duration().default('15m').describe('Lifetime of presigned redirect URLs (S3).'),
    upstreams: z
      .array(upstream)
      .default([])
      .describe(
        'Registries served as pull-through caches next to the local repositories (see “Pull-through cache”).',
      ),
    metrics: z
      .strictObject({
        repositorylabels: z
          .boolean()
          .default(false)
          .describe('Label byte counters with repository names (unbounded: only for few repositories).'),
      })
      .prefault({}),
  })
  .prefault({});
