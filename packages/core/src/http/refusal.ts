import { RegistryError } from '../errors.js';
import type { AuthDecision, RegistryAction } from '../options.js';

/**
 * What was asked for, in the shape distribution gives as the detail of its auth errors: clients
 * (docker among them) show it, and a detail also marks the error as final for docker, which
 * retries a bare `DENIED` or `UNAUTHORIZED` carrying only the spec's default message.
 */
function accessDetail(action: RegistryAction, repository: string | undefined) {
  if (repository !== undefined) return [{ type: 'repository', name: repository, action }];
  return [{ type: 'registry', name: action === 'catalog' ? 'catalog' : '', action }];
}

/** `push access to repository "team/app"`, `access to the catalog`, … */
function describeAccess(action: RegistryAction, repository: string | undefined): string {
  if (repository !== undefined) return `${action} access to repository ${JSON.stringify(repository)}`;
  return action === 'catalog' ? 'access to the catalog' : 'access to the registry';
}

/**
 * The error for an `authorize` hook's refusal: 401 `UNAUTHORIZED` with the hook's challenge, or
 * 403 `DENIED`; the message says what was refused on which repository unless the hook gave its own.
 */
export function refusalError(
  decision: Exclude<AuthDecision, true | { readonly allow: true }>,
  action: RegistryAction,
  repository: string | undefined,
): RegistryError {
  const detail = accessDetail(action, repository);
  const given = typeof decision === 'object' ? decision : undefined;
  if (given?.status === 401) {
    return new RegistryError('UNAUTHORIZED', {
      message: given.message || `authentication required for ${describeAccess(action, repository)}`,
      detail,
      headers: { 'WWW-Authenticate': given.challenge ?? 'Basic realm="wharf"' },
    });
  }
  return new RegistryError('DENIED', {
    message: given?.message || `${describeAccess(action, repository)} is denied`,
    detail,
  });
}
