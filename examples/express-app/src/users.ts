import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** User names double as repository namespaces, so they follow the spec's path-component rule. */
const USER_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const KEY_LENGTH = 32;

function scryptAsync(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** Hashes a password as `scrypt$<salt>$<key>` (base64url). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt);
  return `scrypt$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Checks a password against a {@link hashPassword} hash in constant time. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const [scheme, salt, key] = hash.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'));
  return actual.byteLength === expected.byteLength && timingSafeEqual(actual, expected);
}

/** User name → password hash. */
export type Users = ReadonlyMap<string, string>;

/** Demo users (passwords `wonderland` and `builder`); set `EXPRESS_APP_USERS` for real ones. */
export const DEMO_USERS: Users = new Map([
  ['alice', 'scrypt$nqsdS1-Av4NKrWUP2Jtegg$7rHafPbJbKO-RpvorlODWXcUpKM22eg1QG891eZe1IQ'],
  ['bob', 'scrypt$onzaIhW_du4OJaRX1F_ZZA$U3f5rojJqfG-Mn-TQhMQQu267okVTreDwIAg3TPRqac'],
]);

/**
 * Users from `name:password,name:password` (as in `EXPRESS_APP_USERS`); a password may also be given
 * already hashed (`scrypt$…`). Plain passwords are hashed here and not kept.
 */
export async function parseUsers(value: string): Promise<Users> {
  const users = new Map<string, string>();
  for (const entry of value.split(',')) {
    if (!entry.trim()) continue;
    const colon = entry.indexOf(':');
    const name = entry.slice(0, colon).trim();
    const password = entry.slice(colon + 1);
    if (colon < 1 || !USER_NAME.test(name) || !password) {
      throw new Error(`expected name:password with a lower-case user name, got ${JSON.stringify(name)}`);
    }
    users.set(name, password.startsWith('scrypt$') ? password : await hashPassword(password));
  }
  if (users.size === 0) throw new Error('no users given');
  return users;
}

// Unknown users are checked against this too, so a failed login takes as long either way.
const DUMMY_HASH = 'scrypt$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

/** The user name if `password` is right, otherwise `undefined`. */
export async function authenticate(
  users: Users,
  name: string,
  password: string,
): Promise<string | undefined> {
  const hash = users.get(name);
  const ok = await verifyPassword(password, hash ?? DUMMY_HASH);
  return ok && hash !== undefined ? name : undefined;
}
