/**
 * Whether the long batteries run at full strength. The default suite runs each battery a few
 * times so that it stays fast on a developer machine and on every Node.js line in CI;
 * `WHARF_STRESS=1` (set by CI on one Node.js line) runs the full counts.
 */
export const STRESS = process.env.WHARF_STRESS === '1';

/** `light` rounds in the default suite, `full` under `WHARF_STRESS=1`. */
export function rounds(light: number, full: number): number {
  return STRESS ? full : light;
}
