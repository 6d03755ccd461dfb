import type { RouteMiddleware } from '@wharf/core';
import type { KitEnvironment } from '../environment.js';
import { errorResponse } from '../responses.js';

/** Routes that write into a repository (uploads continue sessions that already passed this check). */
function isPush(route: string, method: string): boolean {
  return (route === 'blob-upload' && method === 'POST') || (route === 'manifest' && method === 'PUT');
}

/**
 * Registries that do not create repositories on push: ECR refuses a push to a repository nobody
 * created (`explicit`), Harbor one outside an existing project (`projects`).
 */
export function repositoryMiddleware(mode: 'explicit' | 'projects', env: KitEnvironment): RouteMiddleware {
  return async (call, next) => {
    const repository = call.params.repository;
    if (repository === undefined || !isPush(call.route, call.method)) return next();
    if (mode === 'explicit') {
      if (env.created.has(repository) || (await env.storage.metadata.hasRepository(repository)))
        return next();
      return errorResponse(
        404,
        'NAME_UNKNOWN',
        `The repository with name '${repository}' does not exist in the registry with id '000000000000'`,
      );
    }
    const slash = repository.indexOf('/');
    const project = slash < 0 ? undefined : repository.slice(0, slash);
    if (project === undefined) return errorResponse(404, 'NAME_UNKNOWN', 'project name required');
    if (project !== 'library' && !env.created.has(project)) {
      return errorResponse(404, 'NAME_UNKNOWN', `project ${project} not found`);
    }
    return next();
  };
}
