import { z } from 'zod';
import { byteSize, duration } from '../units.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const filesystem = z.strictObject({
  rootdirectory: z
    .string()
    .min(1)
    .default('/var/lib/registry')
    .describe("Storage root, in distribution's layout (docker-registry can serve the same root)."),
  fsync: z
    .boolean()
    .default(true)
    .describe(
      'wharf: flush what is acknowledged (blobs, links, tags, manifests) to disk first, so it survives power loss; distribution never does. Off only for disposable data.',
    ),
  syncchunks: z
    .boolean()
    .default(false)
    .describe(
      'wharf: also flush each upload chunk before its 202 (default: a 202 survives a crash of the process; unflushed sessions end at reboot). Needs `fsync`.',
    ),
});

const s3 = z.strictObject({
  bucket: z.string().min(1).describe('The bucket (created when missing).'),
  region: z.string().min(1).default('us-east-1').describe('The bucket’s region.'),
  regionendpoint: z
    .string()
    .optional()
    .describe('Endpoint of an S3-compatible server (Ceph RGW, MinIO…); without a scheme, see `secure`.'),
  accesskey: z
    .string()
    .optional()
    .meta({ secret: true })
    .describe('Access key id; default: the AWS SDK’s chain.'),
  secretkey: z.string().optional().meta({ secret: true }).describe('Secret access key.'),
  sessiontoken: z
    .string()
    .optional()
    .meta({ secret: true })
    .describe('Session token of temporary credentials.'),
  rootdirectory: z.string().default('').describe('Key prefix inside the bucket.'),
  secure: z.boolean().default(true).describe('Use HTTPS for a `regionendpoint` given without a scheme.'),
  skipverify: z.boolean().default(false).describe('Do not verify the S3 server’s TLS certificate.'),
  forcepathstyle: z
    .boolean()
    .optional()
    .describe(
      'Path-style addressing (`endpoint/bucket/key`). Default: on with a `regionendpoint` (S3-compatible servers need it), off for AWS.',
    ),
  // S3's bounds on a multipart part (storage-s3 checks them too, under its own option names).
  chunksize: byteSize({ min: 5 * MiB, max: 5 * GiB })
    .optional()
    .describe('Bytes per multipart part when streaming into the bucket (default 8MiB).'),
  parallelreadthreshold: byteSize()
    .optional()
    .describe(
      'wharf: blob reads longer than this are fetched as parallel ranged GETs (default 16MiB; 0: every read).',
    ),
  readpartsize: byteSize({ min: 1, max: 5 * GiB })
    .optional()
    .describe('wharf: bytes per ranged GET of a parallel read (default 8MiB).'),
  readpartsinflight: z
    .number()
    .int()
    .min(1)
    .max(64)
    .optional()
    .describe('wharf: ranged GETs of one read running at once (default 4).'),
  tagcachettl: duration()
    .optional()
    .describe(
      'wharf: answer tag reads from memory for this long (default 0: every tag read asks the bucket, so a tag another replica moved is served at once).',
    ),
  usedualstack: z.boolean().default(false).describe('Use the dual-stack (IPv6) endpoint.'),
  accelerate: z.boolean().default(false).describe('Use S3 Transfer Acceleration.'),
});

/**
 * `storage`: one driver (`filesystem`, `s3` or `inmemory`) plus distribution's driver-independent
 * settings. Without a driver, the server stores into `./data`.
 */
export const storageSection = z
  .strictObject({
    filesystem: filesystem.optional(),
    s3: s3.optional(),
    inmemory: z
      .union([z.strictObject({}), z.null()])
      .optional()
      .describe('In-memory storage: lost at exit, for tests.'),
    delete: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe(
            'Allows deleting manifests, tags and blobs (otherwise 405 `UNSUPPORTED`), as in distribution.',
          ),
      })
      .prefault({}),
    redirect: z
      .strictObject({
        disable: z
          .boolean()
          .default(false)
          .describe(
            'S3: stream blobs through the registry instead of redirecting clients to presigned URLs.',
          ),
      })
      .prefault({}),
    maintenance: z
      .strictObject({
        uploadpurging: z
          .strictObject({
            enabled: z.boolean().default(true).describe('Removes upload sessions idle longer than `age`.'),
            age: duration().default('168h').describe('Idle time after which an upload session is removed.'),
            interval: duration().default('24h').describe('How often abandoned uploads are looked for.'),
            dryrun: z.boolean().default(false).describe('Only log what would be removed.'),
          })
          .prefault({}),
        readonly: z
          .strictObject({
            enabled: z
              .boolean()
              .default(false)
              .describe('Refuses pushes and deletes (405 `UNSUPPORTED`); pulls continue.'),
          })
          .prefault({}),
      })
      .prefault({}),
  })
  .prefault({});
