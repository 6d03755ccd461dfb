import type { RegistryContext } from '../context.js';
import { deleteBlob, getBlob } from '../handlers/blobs.js';
import { listCatalog, listTags, ping } from '../handlers/listings.js';
import { deleteManifest, getManifest, manifestPushQuery, putManifest } from '../handlers/manifests.js';
import { listReferrers, referrersQuery } from '../handlers/referrers.js';
import { completeUploadQuery, startUploadQuery } from '../handlers/upload-query.js';
import { cancelUpload, completeUpload, patchUpload, startUpload, uploadStatus } from '../handlers/uploads.js';
import { parsePage } from './pagination.js';
import {
  parseDigestParameter,
  parseManifestReference,
  parseRepositoryPath,
  parseUploadId,
} from './params.js';
import { defineRoute, type Route } from './route.js';

const page = (query: URLSearchParams, ctx: RegistryContext) => parsePage(query, ctx.limits.pageSize);

const repository = ({ name }: Readonly<Record<string, string>>) => ({
  repository: parseRepositoryPath(name!),
});

/** `<name>/manifests/<reference>`; a tag that does not match the grammar is refused as `write` says. */
const manifest =
  (write: boolean) =>
  ({ name, reference }: Readonly<Record<string, string>>) => ({
    repository: parseRepositoryPath(name!),
    reference: parseManifestReference(reference!, write),
  });

const blob = ({ name, digest }: Readonly<Record<string, string>>) => ({
  repository: parseRepositoryPath(name!),
  digest: parseDigestParameter(digest!),
});

const upload = ({ name, uuid }: Readonly<Record<string, string>>) => ({
  repository: parseRepositoryPath(name!),
  uploadId: parseUploadId(uuid!),
});

/**
 * Every endpoint of the registry, one entry per route and method. Requests run through the same
 * steps on every route (`dispatch.ts`, documented in `docs/architecture.md`, "Routes"): match the
 * raw path, parse and validate the path parameters, check the feature toggle, then the middleware,
 * the query parameters, `authorize` and the handler. Patterns are tried in this order.
 */
export const ROUTES: readonly Route[] = [
  defineRoute({
    name: 'base',
    path: '/v2/',
    methods: ['GET'],
    action: 'ping',
    params: () => ({}),
    handle: ping,
  }),
  defineRoute({
    name: 'catalog',
    path: '/v2/_catalog',
    methods: ['GET'],
    action: 'catalog',
    params: () => ({}),
    query: page,
    handle: listCatalog,
  }),
  defineRoute({
    name: 'tags',
    path: '/v2/<name>/tags/list',
    methods: ['GET'],
    action: 'pull',
    params: repository,
    query: page,
    handle: listTags,
  }),
  defineRoute({
    name: 'manifest',
    path: '/v2/<name>/manifests/<reference>',
    methods: ['GET'],
    action: 'pull',
    params: manifest(false),
    handle: getManifest,
  }),
  defineRoute({
    name: 'manifest',
    path: '/v2/<name>/manifests/<reference>',
    methods: ['PUT'],
    action: 'push',
    params: manifest(true),
    query: manifestPushQuery,
    handle: putManifest,
  }),
  defineRoute({
    name: 'manifest',
    path: '/v2/<name>/manifests/<reference>',
    methods: ['DELETE'],
    action: 'delete',
    params: manifest(false),
    feature: ({ reference }) =>
      reference.kind === 'tag'
        ? { feature: 'deleteTags', status: 405, message: 'tag deletion is disabled' }
        : { feature: 'deleteManifests', status: 405, message: 'manifest deletion is disabled' },
    handle: deleteManifest,
  }),
  defineRoute({
    name: 'blob-upload',
    path: '/v2/<name>/blobs/uploads/',
    methods: ['POST'],
    action: 'push',
    params: repository,
    query: startUploadQuery,
    handle: startUpload,
  }),
  defineRoute({
    name: 'blob-upload-chunk',
    path: '/v2/<name>/blobs/uploads/<uuid>',
    methods: ['GET'],
    action: 'push',
    params: upload,
    handle: uploadStatus,
  }),
  defineRoute({
    name: 'blob-upload-chunk',
    path: '/v2/<name>/blobs/uploads/<uuid>',
    methods: ['PATCH'],
    action: 'push',
    params: upload,
    handle: patchUpload,
  }),
  defineRoute({
    name: 'blob-upload-chunk',
    path: '/v2/<name>/blobs/uploads/<uuid>',
    methods: ['PUT'],
    action: 'push',
    params: upload,
    query: completeUploadQuery,
    handle: completeUpload,
  }),
  defineRoute({
    name: 'blob-upload-chunk',
    path: '/v2/<name>/blobs/uploads/<uuid>',
    methods: ['DELETE'],
    action: 'push',
    params: upload,
    handle: cancelUpload,
  }),
  defineRoute({
    name: 'blob',
    path: '/v2/<name>/blobs/<digest>',
    methods: ['GET'],
    action: 'pull',
    params: blob,
    handle: getBlob,
  }),
  defineRoute({
    name: 'blob',
    path: '/v2/<name>/blobs/<digest>',
    methods: ['DELETE'],
    action: 'delete',
    params: blob,
    feature: () => ({ feature: 'deleteBlobs', status: 405, message: 'blob deletion is disabled' }),
    handle: deleteBlob,
  }),
  defineRoute({
    name: 'referrers',
    path: '/v2/<name>/referrers/<digest>',
    methods: ['GET'],
    action: 'pull',
    params: ({ name, digest }) => ({
      repository: parseRepositoryPath(name!),
      subject: parseDigestParameter(digest!),
    }),
    feature: () => ({ feature: 'referrers', status: 404, message: 'the referrers API is disabled' }),
    query: referrersQuery,
    handle: listReferrers,
  }),
];
