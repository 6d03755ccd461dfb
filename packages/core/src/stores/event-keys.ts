/** One component of an event-store key. */
const COMPONENT = /^[A-Za-z0-9._-]+$/;

/**
 * Whether `key` is a well-formed {@link EventStore} key: `/`-separated components of letters,
 * digits, `.`, `_` and `-`, none of them `.` or `..`, at most 512 characters. Core only builds such
 * keys; backends check them before turning them into paths.
 */
export function isEventKey(key: string): boolean {
  if (key.length === 0 || key.length > 512) return false;
  return key.split('/').every((part) => COMPONENT.test(part) && part !== '.' && part !== '..');
}
