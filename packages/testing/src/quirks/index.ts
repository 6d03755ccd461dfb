import type { RouteMiddleware } from '@wharf/core';
import type { KitEnvironment } from '../environment.js';
import { authMiddleware, TokenService } from './auth.js';
import { listingMiddleware } from './listings.js';
import { manifestMiddleware } from './manifests.js';
import { mergeQuirks } from './merge.js';
import { type ProfileName, profiles } from './profiles.js';
import { rateLimitMiddleware } from './rate-limit.js';
import { BlobRedirects } from './redirect.js';
import { repositoryMiddleware } from './repositories.js';
import type { Quirks } from './types.js';

/** A built-in profile's name, or quirks as data. */
export type QuirkInput = ProfileName | Quirks;

/** Merges quirk inputs, looking profile names up. */
export function resolveQuirks(input: QuirkInput | readonly QuirkInput[] | undefined): Quirks {
  const parts = input === undefined ? [] : Array.isArray(input) ? input : [input as QuirkInput];
  return mergeQuirks(
    ...parts.map((part: QuirkInput) => {
      if (typeof part !== 'string') return part;
      const profile = profiles[part];
      if (!profile)
        throw new RangeError(
          `unknown quirk profile ${JSON.stringify(part)} (known: ${Object.keys(profiles).join(', ')})`,
        );
      return profile;
    }),
  );
}

/** What the kit runs for a set of quirks. */
export interface BuiltQuirks {
  /** Route middleware, outermost first. */
  readonly middleware: readonly RouteMiddleware[];
  /** The token endpoint, under bearer authentication. */
  readonly tokens: TokenService | undefined;
  /** The blob origin, when blob GETs redirect. */
  readonly redirects: BlobRedirects | undefined;
  /** Forgets tokens and rate-limit counts. */
  reset(): void;
}

/** Turns quirks into middleware (authentication first, then limits, repositories, listings, manifests, redirects). */
export function buildQuirks(quirks: Quirks, env: KitEnvironment): BuiltQuirks {
  const middleware: RouteMiddleware[] = [];
  const tokens = quirks.auth?.scheme === 'bearer' ? new TokenService(quirks.auth, env) : undefined;
  if (quirks.auth) middleware.push(authMiddleware(quirks.auth, env, tokens));
  const rateLimit = quirks.pullRateLimit ? rateLimitMiddleware(quirks.pullRateLimit, env) : undefined;
  if (rateLimit) middleware.push(rateLimit.middleware);
  if (quirks.repositories === 'explicit' || quirks.repositories === 'projects') {
    middleware.push(repositoryMiddleware(quirks.repositories, env));
  }
  middleware.push(listingMiddleware(quirks, env), manifestMiddleware(quirks));
  const redirects = quirks.blobRedirect ? new BlobRedirects(env, quirks.blobRedirect) : undefined;
  if (redirects) middleware.push(redirects.middleware());
  return {
    middleware,
    tokens,
    redirects,
    reset() {
      tokens?.reset();
      rateLimit?.reset();
    },
  };
}
