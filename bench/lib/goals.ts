import type { GoalCheck } from './stats.js';

/** What each wharf target is compared with, and the goals (from the benchmark issues). */
const PEERS: Record<
  string,
  { peer: string; rawPut: string; rawGet: string; ceiling: string; goals: Record<string, number> }
> = {
  fs: {
    peer: 'distribution-fs',
    rawPut: 'raw-put',
    rawGet: 'raw-get',
    ceiling: 'memory-get',
    goals: {
      push: 1.5,
      pushRaw: 0.9,
      pull: 1.2,
      pullRaw: 0.9,
      patch8m: 1.5,
      head: 5,
      manifest: 5,
      small: 3,
      same: 1.2,
    },
  },
  s3: {
    peer: 'distribution-s3',
    rawPut: 'raw-s3',
    rawGet: 'raw-s3',
    ceiling: 'bucket-get',
    goals: {
      push: 2,
      pushRaw: 0.8,
      pull: 1.5,
      pullRaw: 0.9,
      patch8m: 2,
      head: 3,
      manifest: 5,
      small: 5,
      same: 1.5,
    },
  },
};

/**
 * Ratios the issues set goals for, per wharf target among `names` (memory storage is compared like
 * fs), from `get`: a scenario's median for a target, `undefined` when it did not run.
 */
export function goalChecks(
  names: readonly string[],
  get: (scenario: string, target: string) => number | undefined,
): GoalCheck[] {
  const out: GoalCheck[] = [];
  for (const wharf of names.filter((n) => n.startsWith('wharf'))) {
    const { peer, rawPut, rawGet, ceiling, goals } = PEERS[wharf === 'wharf-s3' ? 's3' : 'fs']!;
    const add = (label: string, a: number | undefined, b: number | undefined, goal: number | undefined) => {
      if (a !== undefined && b !== undefined && b > 0 && goal !== undefined)
        out.push({ label: `${wharf}: ${label}`, ratio: a / b, goal });
    };
    add(`push / ${peer}`, get('push', wharf), get('push', peer), goals.push);
    add(`push / ${rawPut} PUT`, get('push', wharf), get('push', rawPut), goals.pushRaw);
    add(`pull / ${peer}`, get('pull', wharf), get('pull', peer), goals.pull);
    add(`pull / ${rawGet} GET`, get('pull', wharf), get('pull', rawGet), goals.pullRaw);
    // Not a goal of its own: where it falls short of the pull goal, no server can meet that here.
    // Only beside a pull of this target (the events and proxy targets run none).
    if (get('pull', wharf) !== undefined)
      add(`pull ceiling: ${ceiling} / ${peer}`, get('pull', ceiling), get('pull', peer), goals.pull);
    add('single-PATCH push / monolithic push', get('patch-single', wharf), get('push', wharf), 0.9);
    add(`8 MiB PATCHes / ${peer}`, get('patch-8m', wharf), get('patch-8m', peer), goals.patch8m);
    add(`HEAD blob / ${peer}`, get('head', wharf), get('head', peer), goals.head);
    add(`GET manifest / ${peer}`, get('manifest', wharf), get('manifest', peer), goals.manifest);
    add(`small blobs / ${peer}`, get('small', wharf), get('small', peer), goals.small);
    add(`same blob / ${peer}`, get('same-blob', wharf), get('same-blob', peer), goals.same);
    const rss = get('rss', wharf);
    if (rss !== undefined)
      out.push({
        label: `${wharf}: RSS growth, 1 GiB push (MiB)`,
        ratio: rss,
        goal: 64,
        lowerIsBetter: true,
      });
  }
  return out;
}
