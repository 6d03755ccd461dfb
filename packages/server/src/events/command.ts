import type { DeadLetter, EventDispatcher, PendingBatch, RegistryEvent } from '@wharf/core';

export const EVENTS_USAGE = `usage: wharf events <list|replay|discard> [config.yml] [options]

Works on the outbox of the configured storage (a server may be running on it meanwhile).

  list                         batches still pending and dead-lettered batches, one a line:
                               state, endpoint, key, time, events, attempts, error (tabs)
  replay                       queue dead-lettered batches again (a running server delivers them)
  discard --endpoint NAME      delete dead-lettered batches

  --endpoint NAME              only this notification endpoint (replay: default all)
  --key KEY                    only this batch (an outbox entry key, as listed)
  --json                       list as JSON`;

/** The parsed command line of `wharf events`. */
export interface EventsArguments {
  readonly action: 'list' | 'replay' | 'discard';
  readonly file: string | undefined;
  readonly endpoint: string | undefined;
  readonly key: string | undefined;
  readonly json: boolean;
}

/** Parses `wharf events …` (after `events`); a string is the problem. */
export function parseEventsArguments(args: readonly string[]): EventsArguments | { error: string } {
  const [action, ...rest] = args;
  if (action !== 'list' && action !== 'replay' && action !== 'discard') {
    return { error: action === undefined ? 'missing action' : `unknown action ${JSON.stringify(action)}` };
  }
  const options: Record<string, string> = {};
  const positional: string[] = [];
  let json = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--json') {
      json = true;
      continue;
    }
    const match = /^--(endpoint|key)(?:=(.*))?$/.exec(arg);
    if (match) {
      const value = match[2] ?? rest[++i];
      if (!value) return { error: `--${match[1]} needs a value` };
      options[match[1]!] = value;
    } else if (arg.startsWith('-')) {
      return { error: `unknown option ${arg}` };
    } else {
      positional.push(arg);
    }
  }
  if (positional.length > 1) return { error: `unexpected argument ${JSON.stringify(positional[1])}` };
  if (action === 'discard' && options.endpoint === undefined) return { error: 'discard needs --endpoint' };
  if (options.key !== undefined && options.endpoint === undefined) return { error: '--key needs --endpoint' };
  return {
    action,
    file: positional[0] ?? (process.env.REGISTRY_CONFIGURATION_PATH || undefined),
    endpoint: options.endpoint,
    key: options.key,
    json,
  };
}

function describe(event: RegistryEvent): string {
  const target = 'digest' in event && event.digest ? `@${event.digest}` : '';
  return `${event.type} ${event.repository ?? ''}${target}`;
}

function pendingLines(batch: PendingBatch, endpoint: string | undefined): string[] {
  return batch.endpoints
    .filter(
      (p) =>
        (endpoint === undefined || p.endpoint === endpoint) &&
        (p.state === 'pending' || p.state === 'retrying'),
    )
    .map((p) => {
      const retry =
        p.state === 'retrying'
          ? `\tattempts=${p.attempts}\tnext=${p.nextAttemptAt}\terror=${JSON.stringify(p.error ?? '')}`
          : '';
      return `${p.state}\t${p.endpoint}\t${batch.key}\t${batch.recordedAt}\t${batch.events.map(describe).join(', ')}${retry}`;
    });
}

function letterLine(letter: DeadLetter): string {
  return `dead-lettered\t${letter.endpoint}\t${letter.key}\t${letter.at}\t${letter.events.map(describe).join(', ')}\tattempts=${letter.attempts}\terror=${JSON.stringify(letter.error)}`;
}

/** Runs `wharf events` over an outbox; returns the exit code. */
export async function runEventsCommand(
  events: EventDispatcher,
  args: EventsArguments,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const { endpoint, key } = args;
  if (endpoint !== undefined && !events.endpoints.includes(endpoint)) {
    err(
      `wharf events: endpoint ${JSON.stringify(endpoint)} is not configured (configured: ${events.endpoints.join(', ')})`,
    );
    return 2;
  }
  const endpoints = endpoint === undefined ? events.endpoints : [endpoint];
  if (args.action === 'list') {
    const pending = await events.pending();
    const letters = (await Promise.all(endpoints.map((name) => events.deadLetters(name)))).flat();
    if (args.json) {
      const shown =
        endpoint === undefined
          ? pending
          : pending.filter((b) => b.endpoints.some((p) => p.endpoint === endpoint));
      out(JSON.stringify({ pending: shown, deadLettered: letters }, null, 2));
      return 0;
    }
    for (const batch of pending) for (const line of pendingLines(batch, endpoint)) out(line);
    for (const letter of letters) out(letterLine(letter));
    return 0;
  }
  let total = 0;
  for (const name of endpoints) {
    const count = args.action === 'replay' ? await events.replay(name, key) : await events.discard(name, key);
    total += count;
    out(
      `${args.action === 'replay' ? 'replayed' : 'discarded'} ${count} dead-lettered batch${count === 1 ? '' : 'es'} for ${name}`,
    );
  }
  if (key !== undefined && total === 0) {
    err(`wharf events: no dead-lettered batch ${key} for ${endpoint}`);
    return 1;
  }
  return 0;
}
