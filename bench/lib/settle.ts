/**
 * Removing a work directory, and waiting until the removal no longer slows file creation.
 *
 * On ext4 without a journal, creating a file skips every free inode of its group that was removed
 * less than a minute ago (six while its inode table block is dirty), checking each one:
 * `recently_deleted` in the kernel's `fs/ext4/ialloc.c`. Right after a run removed its work
 * directory (tens of thousands of files), the next run's file creations cost several times more
 * CPU, and concurrent ones queue on their directory's lock: a scenario sensitive to that (`events`)
 * waits until the last removal has aged out (bench/README.md, "Settling").
 */

import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';

/**
 * ext4's window for a removed inode: a minute (RECENTCY_MIN) plus five more while its inode table
 * block is dirty (RECENTCY_DIRTY), which new files in the same group keep it; plus slack.
 */
const RECENT_MS = 365_000;

/**
 * Removes `dir` and records when, in `stamp` (a file outside `dir`), so that the next run knows
 * how recent the removal is even when this one removed the tree at its end.
 */
export async function removeWork(dir: string, stamp: string): Promise<void> {
  if (!existsSync(dir)) return;
  await rm(dir, { recursive: true, force: true });
  await writeFile(stamp, String(Date.now()));
}

/** Waits until the last removal recorded in `stamp` is {@link RECENT_MS} old. Resolves the milliseconds waited. */
export async function settleRemovals(stamp: string): Promise<number> {
  const removed = Number(await readFile(stamp, 'utf8').catch(() => '0'));
  const wait = removed + RECENT_MS - Date.now();
  if (!(wait > 0)) return 0;
  await new Promise((resolve) => setTimeout(resolve, wait));
  return wait;
}
