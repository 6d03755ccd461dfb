import { distributionAction, targetMediaType } from './formats/distribution.js';
import type { EventEndpoint } from './options.js';
import type { RegistryEvent } from './types.js';

/** Compiles repository patterns: `*` within a path component, `**` across components. */
export function repositoryMatcher(patterns: readonly string[]): (repository: string) => boolean {
  const expressions = patterns.map((pattern) => {
    const source = pattern
      .split(/(\*\*|\*)/)
      .map((part) =>
        part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('');
    return new RegExp(`^${source}$`);
  });
  return (repository) => expressions.some((expression) => expression.test(repository));
}

/** An endpoint's filters as one predicate: whether the endpoint wants the event. */
export function eventFilter(endpoint: EventEndpoint): (event: RegistryEvent) => boolean {
  const types = endpoint.types ? new Set<string>(endpoint.types) : undefined;
  const repositories = endpoint.repositories ? repositoryMatcher(endpoint.repositories) : undefined;
  const ignoredMediaTypes = new Set([
    ...(endpoint.ignoredMediaTypes ?? []),
    ...(endpoint.ignore?.mediaTypes ?? []),
  ]);
  const ignoredActions = new Set(endpoint.ignore?.actions ?? []);
  return (event) => {
    if (types && !types.has(event.type)) return false;
    if (repositories && (event.repository === undefined || !repositories(event.repository))) return false;
    if (ignoredMediaTypes.size > 0) {
      const mediaType = targetMediaType(event);
      if (mediaType !== undefined && ignoredMediaTypes.has(mediaType)) return false;
    }
    if (ignoredActions.size > 0) {
      const action = distributionAction(event);
      if (action !== undefined && ignoredActions.has(action)) return false;
    }
    return true;
  };
}
