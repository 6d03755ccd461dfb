import { RegistryError } from '../errors.js';
import {
  DIGEST_ALGORITHMS,
  type DigestAlgorithm,
  isDigestAlgorithm,
  type ParsedDigest,
  parseDigest,
} from '../oci/digest.js';
import { assertRepositoryName } from '../oci/names.js';

/** The query of `POST /v2/<name>/blobs/uploads/`, validated. */
export interface StartUploadQuery {
  /** `?mount=<digest>&from=<repository>`; without `from` (or with an empty one), an automatic mount. */
  readonly mount: { readonly digest: string; readonly from: string | undefined } | undefined;
  /** `?digest=`: the blob of a single-request upload. */
  readonly digest: ParsedDigest | undefined;
  /** The session's digest algorithm: `?digest-algorithm=`, else the digest's, else sha256. */
  readonly algorithm: DigestAlgorithm;
}

/** Parses the query of an upload start; malformed digests and names are 400. */
export function startUploadQuery(query: URLSearchParams): StartUploadQuery {
  const mountParam = query.get('mount');
  const from = query.get('from');
  const mount =
    mountParam === null
      ? undefined
      : {
          digest: parseDigest(mountParam).digest,
          from: from === null || from === '' ? undefined : assertRepositoryName(from),
        };
  const digestParam = query.get('digest');
  const digest = digestParam === null ? undefined : parseDigest(digestParam);
  const algorithmParam = query.get('digest-algorithm');
  if (algorithmParam !== null && !isDigestAlgorithm(algorithmParam)) {
    throw new RegistryError('DIGEST_INVALID', {
      message: `unsupported digest algorithm ${JSON.stringify(algorithmParam.slice(0, 64))}`,
      detail: { supported: DIGEST_ALGORITHMS },
    });
  }
  return { mount, digest, algorithm: algorithmParam ?? digest?.algorithm ?? 'sha256' };
}

/** Parses the query of an upload's closing PUT: `?digest=` is required. */
export function completeUploadQuery(query: URLSearchParams): ParsedDigest {
  const digest = query.get('digest');
  if (digest === null || digest === '') {
    throw new RegistryError('DIGEST_INVALID', { message: 'the digest query parameter is required' });
  }
  return parseDigest(digest);
}
