import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';

/** Checks a user name and password. Resolves `false` for unknown users and wrong passwords alike. */
export type VerifyCredentials = (user: string, password: string) => boolean | Promise<boolean>;

/** Where users come from: an object with `verify`, or just the function. */
export type UserSource = { readonly verify: VerifyCredentials } | VerifyCredentials;

/** The function of a {@link UserSource}. */
export function verifierOf(source: UserSource): VerifyCredentials {
  return typeof source === 'function' ? source : (user, password) => source.verify(user, password);
}

/**
 * Compares two secrets in time that depends only on their lengths' maximum, never on where they
 * differ (`crypto.timingSafeEqual` over equal-length buffers). Every credential comparison in this
 * package goes through here.
 */
export function safeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const left = typeof a === 'string' ? Buffer.from(a) : Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const right = typeof b === 'string' ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (left.byteLength !== right.byteLength) {
    // Still do the work of a comparison, so a length mismatch is not faster.
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** Users and their bcrypt hashes from htpasswd text. */
export interface HtpasswdUsers {
  readonly verify: VerifyCredentials;
  /** The user names, in file order. */
  readonly users: readonly string[];
}

/**
 * Parses htpasswd text (`user:hash` lines, as written by `htpasswd -B`). Only bcrypt hashes
 * (`$2y$`, `$2a$`, `$2b$`) are accepted: the older MD5/SHA1/crypt formats are too weak to keep.
 * Blank lines and `#` comments are skipped. Throws on anything else, naming the line.
 *
 * Verification recomputes bcrypt with the stored salt and compares with {@link safeEqual}; an
 * unknown user costs the same bcrypt work as a known one, so timing tells nothing about which
 * users exist.
 */
export function parseHtpasswd(text: string): HtpasswdUsers {
  const hashes = new Map<string, string>();
  let maxCost = 4;
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (colon <= 0) throw new TypeError(`htpasswd line ${index + 1}: expected user:hash`);
    if (user === 'anonymous') throw new TypeError(`htpasswd line ${index + 1}: "anonymous" is reserved`);
    const match = BCRYPT.exec(hash);
    if (!match) throw new TypeError(`htpasswd line ${index + 1}: only bcrypt hashes are supported`);
    if (hashes.has(user)) throw new TypeError(`htpasswd line ${index + 1}: duplicate user`);
    hashes.set(user, hash);
    maxCost = Math.max(maxCost, Number(match[1]));
  }
  // A hash of a random secret at the file's highest cost: what unknown users are checked against.
  let decoy: Promise<string> | undefined;
  const decoyHash = () => {
    decoy ??= bcrypt.hash(randomBytes(16).toString('hex'), maxCost);
    return decoy;
  };
  return {
    users: [...hashes.keys()],
    async verify(user, password) {
      const known = hashes.get(user);
      const hash = known ?? (await decoyHash());
      const computed = await bcrypt.hash(password, hash.slice(0, 29));
      return safeEqual(computed, hash) && known !== undefined;
    },
  };
}

/** Reads an htpasswd file (see {@link parseHtpasswd}). Edits need a restart (or a new source). */
export async function readHtpasswdFile(path: string): Promise<HtpasswdUsers> {
  return parseHtpasswd(await readFile(path, 'utf8'));
}

/** Hashes a password for an htpasswd line (`user:` + the result). Cost 10 by default. */
export function hashPassword(password: string, cost = 10): Promise<string> {
  return bcrypt.hash(password, cost);
}

/**
 * Users with plain-text passwords held in memory (tests, or secrets injected from the environment).
 * Passwords are compared as SHA-256 digests with {@link safeEqual}.
 */
export function staticUsers(passwords: Readonly<Record<string, string>>): { verify: VerifyCredentials } {
  const digests = new Map(
    Object.entries(passwords).map(([user, password]) => [
      user,
      createHash('sha256').update(password).digest(),
    ]),
  );
  const decoy = createHash('sha256').update(randomBytes(16)).digest();
  return {
    verify(user, password) {
      const expected = Object.hasOwn(passwords, user) ? digests.get(user) : undefined;
      const actual = createHash('sha256').update(password).digest();
      return safeEqual(actual, expected ?? decoy) && expected !== undefined;
    },
  };
}

/**
 * Remembers successful verifications for `ttlSeconds`, so that a client sending Basic credentials
 * on every request pays for bcrypt once, not per request. Entries are keyed by an HMAC (with a
 * random per-process key) of the user and password: no password is kept, and a lookup's timing
 * reveals nothing an attacker can steer. Failures are never cached.
 */
export function cachedVerifier(
  verify: VerifyCredentials,
  ttlSeconds = 60,
  maxEntries = 10_000,
  now: () => number = Date.now,
): VerifyCredentials {
  if (ttlSeconds <= 0) return verify;
  const key = randomBytes(32);
  const verified = new Map<string, number>();
  return async (user, password) => {
    const id = createHmac('sha256', key).update(user).update('\0').update(password).digest('base64');
    const time = now();
    const until = verified.get(id);
    if (until !== undefined) {
      if (until > time) return true;
      verified.delete(id);
    }
    if (!(await verify(user, password))) return false;
    if (verified.size >= maxEntries) {
      for (const [entry, expiry] of verified) if (expiry <= time) verified.delete(entry);
      // Still full: drop the oldest entries (a Map iterates in insertion order).
      for (const entry of verified.keys()) {
        if (verified.size < maxEntries) break;
        verified.delete(entry);
      }
    }
    verified.set(id, time + ttlSeconds * 1000);
    return true;
  };
}
