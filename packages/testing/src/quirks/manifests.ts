import { collectBytes, type RouteMiddleware } from '@wharf/core';
import { errorResponse, headerOf, once, readAll, setHeader, textResponse } from '../responses.js';
import type { Quirks } from './types.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const IMAGE_CONFIGS = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);
/** Largest manifest body read to check its artifact type (core refuses larger ones anyway). */
const MAX_MANIFEST = 4 * 1024 * 1024;

/** The media types an `Accept` header lists. */
function accepted(accept: string | null | undefined): Set<string> {
  return new Set(
    (accept ?? '')
      .split(',')
      .map((part) => part.split(';')[0]!.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** Referrers API support, `OCI-Subject`, `Docker-Content-Digest`, `Accept` strictness, media type checks. */
export function manifestMiddleware(quirks: Quirks): RouteMiddleware {
  const manifestTypes = quirks.manifestMediaTypes && new Set(quirks.manifestMediaTypes);
  const artifactTypes = quirks.artifactTypes && new Set(quirks.artifactTypes);
  const noReferrers = quirks.referrers === 'unsupported';
  return async (call, next) => {
    if (call.route === 'referrers' && noReferrers) return textResponse(404, '404 page not found\n');
    if (call.route !== 'manifest') return next();

    if (call.method === 'PUT') {
      const contentType = (call.request.headers.get('content-type') ?? '').split(';')[0]!.trim();
      if (manifestTypes && !manifestTypes.has(contentType)) {
        return errorResponse(400, 'MANIFEST_INVALID', 'manifest invalid', {
          detail: { mediaType: contentType },
        });
      }
      let forward = call;
      if (artifactTypes) {
        let bytes: Buffer;
        try {
          bytes = await collectBytes(call.request.body ?? once(new Uint8Array()), MAX_MANIFEST);
        } catch (error) {
          if (!(error instanceof RangeError)) throw error;
          return errorResponse(413, 'MANIFEST_INVALID', 'manifest too large');
        }
        let type: string | undefined;
        try {
          const parsed = JSON.parse(bytes.toString('utf8')) as {
            artifactType?: string;
            config?: { mediaType?: string };
          };
          type = parsed.artifactType ?? parsed.config?.mediaType;
        } catch {
          // Not JSON: the route answers MANIFEST_INVALID itself.
        }
        if (type !== undefined && !IMAGE_CONFIGS.has(type) && !artifactTypes.has(type)) {
          return errorResponse(400, 'MANIFEST_INVALID', `artifact type ${type} is not allowed`, {
            detail: { artifactType: type },
          });
        }
        forward = { ...call, request: { ...call.request, body: once(bytes) } };
      }
      const response = await next(forward);
      if (noReferrers && !quirks.subjectHeader) setHeader(response, 'OCI-Subject', undefined);
      return response;
    }

    if (call.method !== 'GET') return next();
    const response = await next();
    if (response.status !== 200) return response;
    const type = headerOf(response, 'Content-Type');
    if (quirks.strictAccept && (type === OCI_MANIFEST || type === OCI_INDEX)) {
      if (!accepted(call.request.headers.get('accept')).has(type)) {
        await readAll(response.body);
        const what =
          type === OCI_INDEX
            ? 'OCI index found, but accept header does not support OCI indexes'
            : 'OCI manifest found, but accept header does not support OCI manifests';
        return errorResponse(404, 'MANIFEST_UNKNOWN', what);
      }
    }
    if (quirks.digestHeader === 'not-on-tag-get' && !call.head && call.params.reference.kind === 'tag') {
      setHeader(response, 'Docker-Content-Digest', undefined);
    }
    return response;
  };
}
