import { RegistryError } from '../errors.js';

/** Digest algorithms wharf can compute and verify. */
export type DigestAlgorithm = 'sha256' | 'sha512' | 'blake3';

/** A validated digest split into its parts. */
export interface ParsedDigest {
  readonly algorithm: DigestAlgorithm;
  /** Lower-case hex. */
  readonly encoded: string;
  /** `algorithm:encoded`. */
  readonly digest: string;
}

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128, blake3: 64 };

/** The image-spec digest grammar (any algorithm, registered or not). */
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const HEX = /^[a-f0-9]+$/;

/** Every algorithm this build supports, in preference order. */
export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['sha256', 'sha512', 'blake3'];

/** True when `value` names an algorithm wharf supports. */
export function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return Object.hasOwn(ENCODED_LENGTH, value);
}

/** True when `value` matches the image-spec digest grammar (the algorithm may be unsupported). */
export function matchesDigestGrammar(value: string): boolean {
  return value.length <= 1024 && DIGEST_GRAMMAR.test(value);
}

/**
 * Parses and validates a digest of a supported algorithm. Anything else (bad grammar, wrong
 * length, upper-case hex, unknown algorithm) is `DIGEST_INVALID` (400).
 */
export function parseDigest(value: string): ParsedDigest {
  const parsed = tryParseDigest(value);
  if (parsed) return parsed;
  if (matchesDigestGrammar(value)) {
    const algorithm = value.slice(0, value.indexOf(':'));
    if (!isDigestAlgorithm(algorithm)) {
      throw new RegistryError('DIGEST_INVALID', {
        message: `unsupported digest algorithm ${JSON.stringify(algorithm)}`,
        detail: { digest: value, supported: DIGEST_ALGORITHMS },
      });
    }
  }
  throw new RegistryError('DIGEST_INVALID', {
    message: 'invalid digest',
    detail: { digest: value.slice(0, 256) },
  });
}

/** Like {@link parseDigest} but returns `undefined` instead of throwing. */
export function tryParseDigest(value: string): ParsedDigest | undefined {
  const colon = value.indexOf(':');
  if (colon <= 0) return undefined;
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (!isDigestAlgorithm(algorithm)) return undefined;
  if (encoded.length !== ENCODED_LENGTH[algorithm] || !HEX.test(encoded)) return undefined;
  return { algorithm, encoded, digest: value };
}

/** True when `value` is a valid digest of a supported algorithm. */
export function isDigest(value: string): boolean {
  return tryParseDigest(value) !== undefined;
}
