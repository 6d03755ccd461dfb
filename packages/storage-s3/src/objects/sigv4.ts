import { createHash, createHmac } from 'node:crypto';

/** Credentials to sign with. */
export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

/** A request to sign. `path` is already URI-encoded; `query` pairs are raw. */
export interface RequestToSign {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** Headers to sign besides host, date, content hash and token (lower-case names). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The hex sha256 of the body (see {@link EMPTY_SHA256}). */
  readonly payloadHash: string;
}

/** sha256 of an empty body, hex. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** RFC 3986 encoding, as SigV4 wants it (`encodeURIComponent` leaves `!'()*` alone). */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** An object key as a URI path: every segment encoded, slashes kept. */
export function encodeKey(key: string): string {
  return key.split('/').map(uriEncode).join('/');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/**
 * AWS Signature Version 4 for S3 requests (header form). The derived signing key is kept per day,
 * region and secret, so a request costs two hashes and one HMAC.
 */
export class SigV4Signer {
  readonly #region: string;
  readonly #service: string;
  #key: { readonly scope: string; readonly secret: string; readonly key: Buffer } | undefined;

  constructor(region: string, service = 's3') {
    this.#region = region;
    this.#service = service;
  }

  #signingKey(day: string, secret: string): Buffer {
    const scope = `${day}/${this.#region}/${this.#service}/aws4_request`;
    if (this.#key?.scope !== scope || this.#key.secret !== secret) {
      const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), this.#region), this.#service), 'aws4_request');
      this.#key = { scope, secret, key };
    }
    return this.#key.key;
  }

  /** The headers to send: the request's own plus `x-amz-*` and `authorization`. */
  sign(request: RequestToSign, credentials: SigningCredentials, now = new Date()): Record<string, string> {
    const stamp = now.toISOString().replace(/[-:]|\.\d{3}/g, '');
    const day = stamp.slice(0, 8);
    const headers: Record<string, string> = {
      ...request.headers,
      host: request.host,
      'x-amz-content-sha256': request.payloadHash,
      'x-amz-date': stamp,
    };
    if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
    const names = Object.keys(headers).sort();
    const query = Object.entries(request.query ?? {})
      .map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`)
      .sort()
      .join('&');
    const canonical = [
      request.method,
      request.path,
      query,
      ...names.map((name) => `${name}:${String(headers[name]).trim().replace(/\s+/g, ' ')}`),
      '',
      names.join(';'),
      request.payloadHash,
    ].join('\n');
    const scope = `${day}/${this.#region}/${this.#service}/aws4_request`;
    const toSign = [
      'AWS4-HMAC-SHA256',
      stamp,
      scope,
      createHash('sha256').update(canonical).digest('hex'),
    ].join('\n');
    const signature = createHmac('sha256', this.#signingKey(day, credentials.secretAccessKey))
      .update(toSign)
      .digest('hex');
    headers.authorization =
      `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
      `SignedHeaders=${names.join(';')}, Signature=${signature}`;
    return headers;
  }
}
