import { setTimeout as sleep } from 'node:timers/promises';
import type { RegistryResponse, RouteCall, RouteMiddleware } from '@wharf/core';
import type { KitEnvironment } from '../environment.js';
import type { Random } from '../random.js';
import { errorResponse, headerOf, setHeader } from '../responses.js';
import { sha256 } from '../seed/formats.js';
import { corruptAt, cutAfter, cutConnection } from './body.js';
import type { FaultEffect, FaultRule } from './types.js';

interface ActiveRule {
  readonly rule: FaultRule;
  readonly name: string;
  readonly random: Random;
  matched: number;
  injected: number;
}

const CODES: Readonly<Record<number, string>> = {
  429: 'TOOMANYREQUESTS',
  500: 'UNKNOWN',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'UNAVAILABLE',
};
const MESSAGES: Readonly<Record<string, string>> = {
  TOOMANYREQUESTS: 'too many requests',
  UNKNOWN: 'internal server error',
  UNAVAILABLE: 'service unavailable',
};

function list<T>(value: T | readonly T[] | undefined): readonly T[] | undefined {
  return value === undefined ? undefined : Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

function matches(rule: FaultRule, call: RouteCall): boolean {
  const routes = list(rule.route);
  if (routes && !routes.includes(call.route)) return false;
  const methods = list(rule.method)?.map((m) => m.toUpperCase());
  const method = call.head ? 'HEAD' : call.method;
  if (methods && !methods.includes(method)) return false;
  if (rule.repository !== undefined) {
    const repository = call.params.repository;
    if (repository === undefined) return false;
    if (
      typeof rule.repository === 'string' ? rule.repository !== repository : !rule.repository.test(repository)
    ) {
      return false;
    }
  }
  return rule.when ? rule.when(call) : true;
}

function validate(rule: FaultRule): void {
  const { probability, times, after } = rule;
  if (probability !== undefined && !(probability >= 0 && probability <= 1)) {
    throw new RangeError('fault probability must be between 0 and 1');
  }
  if (times !== undefined && !(Number.isInteger(times) && times >= 0))
    throw new RangeError('fault times must be a whole number');
  if (after !== undefined && !(Number.isInteger(after) && after >= 0))
    throw new RangeError('fault after must be a whole number');
  for (const effect of list(rule.effect) ?? []) {
    const bytes = 'afterBytes' in effect ? effect.afterBytes : 'atByte' in effect ? effect.atByte : 0;
    if (!(Number.isInteger(bytes) && bytes >= 0))
      throw new RangeError(`fault ${effect.type}: byte offsets must be whole numbers`);
  }
}

/** Decides, request by request, which faults apply, and applies them around the route's handling. */
export class FaultInjector {
  readonly #env: KitEnvironment;
  readonly #initial: readonly FaultRule[];
  #active: ActiveRule[] = [];
  #added = 0;

  constructor(env: KitEnvironment, initial: readonly FaultRule[] = []) {
    this.#env = env;
    this.#initial = initial;
    this.reset();
  }

  #activate(rule: FaultRule): ActiveRule {
    validate(rule);
    const name = rule.name ?? (list(rule.effect) ?? []).map((e) => e.type).join('+');
    return { rule, name, random: this.#env.random(`fault:${this.#added++}`), matched: 0, injected: 0 };
  }

  /** Adds a rule; returns a function that removes it. */
  add(rule: FaultRule): () => void {
    const active = this.#activate(rule);
    this.#active.push(active);
    return () => {
      this.#active = this.#active.filter((a) => a !== active);
    };
  }

  /** Removes every rule. */
  clear(): void {
    this.#active = [];
  }

  /** Back to the rules the registry was created with, counters and random draws from the start. */
  reset(): void {
    this.#added = 0;
    this.#active = this.#initial.map((rule) => this.#activate(rule));
  }

  /** The rules in force, with how many requests each matched and faulted. */
  list(): ReadonlyArray<{ readonly name: string; readonly matched: number; readonly injected: number }> {
    return this.#active.map(({ name, matched, injected }) => ({ name, matched, injected }));
  }

  #select(call: RouteCall): ActiveRule[] {
    const chosen: ActiveRule[] = [];
    for (const active of this.#active) {
      const { rule } = active;
      if (!matches(rule, call)) continue;
      const position = active.matched++ - (rule.after ?? 0);
      if (position < 0) continue;
      if (rule.times !== undefined && active.injected >= rule.times) continue;
      if (rule.sequence && !rule.sequence[position]) continue;
      // Drawn for every candidate, so one rule's draws do not depend on another's.
      if (rule.probability !== undefined && !(active.random() < rule.probability)) continue;
      active.injected++;
      chosen.push(active);
    }
    return chosen;
  }

  middleware(): RouteMiddleware {
    return async (call, next) => {
      const chosen = this.#select(call);
      if (chosen.length === 0) return next();
      const exchange = this.#env.exchangeOf(call.request);
      exchange?.faults.push(...chosen.map((c) => c.name));
      const effects = chosen.flatMap((c) => list(c.rule.effect) ?? []);
      for (const effect of effects) if (effect.type === 'latency') await sleep(effect.ms);
      const status = effects.find((e) => e.type === 'status');
      if (status) return statusResponse(status);
      const reset = effects.find((e) => e.type === 'reset');
      if (reset && reset.afterBytes === 0) return drop(exchange);

      const response = await next();
      for (const effect of effects) applyHeaders(response, effect);
      const hasBody = response.body != null && !call.head;
      for (const effect of effects) {
        if (effect.type !== 'reset' && effect.type !== 'truncate' && effect.type !== 'corrupt') continue;
        if (!hasBody) {
          if (effect.type === 'reset') return drop(exchange);
          continue;
        }
        const body = response.body instanceof Uint8Array ? single(response.body) : response.body!;
        response.body =
          effect.type === 'corrupt'
            ? corruptAt(body, effect.atByte)
            : cutAfter(body, effect.afterBytes, effect.type, exchange);
      }
      return response;
    };
  }
}

async function* single(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

function statusResponse(effect: Extract<FaultEffect, { type: 'status' }>): RegistryResponse {
  const code = effect.code ?? CODES[effect.status] ?? 'UNKNOWN';
  const headers: Record<string, string> = { ...effect.headers };
  if (effect.retryAfter !== undefined) headers['Retry-After'] = String(effect.retryAfter);
  return errorResponse(effect.status, code, effect.message ?? MESSAGES[code] ?? 'injected fault', {
    headers,
  });
}

/** Drops the connection before any response: an RST over a socket, a rejected `fetch` in process. */
async function drop(exchange: Parameters<typeof cutConnection>[0]): Promise<RegistryResponse> {
  if (exchange) exchange.dropped = true;
  if (exchange?.socket) await cutConnection(exchange, 'reset');
  return { status: 500, headers: {}, body: null };
}

function applyHeaders(response: RegistryResponse, effect: FaultEffect): void {
  if (effect.type === 'warning') {
    const value = `${effect.code ?? 299} - ${JSON.stringify(effect.text)}`;
    const existing = response.headers.Warning;
    response.headers.Warning =
      existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  } else if (effect.type === 'wrong-digest') {
    const current = headerOf(response, 'Docker-Content-Digest') ?? '';
    setHeader(response, 'Docker-Content-Digest', effect.digest ?? sha256(`not ${current}`));
  }
}
