import { createHmac, timingSafeEqual } from 'node:crypto';

/** The request header carrying the body's HMAC-SHA256. */
export const SIGNATURE_HEADER = 'X-Wharf-Signature-256';

/** `sha256=<hex>`: the HMAC-SHA256 of `body` keyed with `secret`. */
export function signBody(secret: string, body: Uint8Array | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Whether `signature` (an {@link SIGNATURE_HEADER} value) is the body's signature under `secret`,
 * compared in constant time. For receivers written in TypeScript.
 */
export function verifySignature(secret: string, body: Uint8Array | string, signature: string): boolean {
  const expected = Buffer.from(signBody(secret, body));
  const given = Buffer.from(signature);
  return expected.byteLength === given.byteLength && timingSafeEqual(expected, given);
}
