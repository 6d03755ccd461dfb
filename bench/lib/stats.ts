/** The median of some numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The p-th percentile (0..100) of some numbers. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export const MiB = 1024 * 1024;

/** A measured ratio and the goal an issue sets for it. */
export interface GoalCheck {
  readonly label: string;
  readonly ratio: number;
  readonly goal: number;
  /** The goal is an upper bound (RSS growth), not a lower one. */
  readonly lowerIsBetter?: boolean;
}
