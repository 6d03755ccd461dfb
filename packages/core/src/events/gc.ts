import type { GcReport } from '../gc/types.js';
import type { RegistryEventData } from './types.js';

/**
 * The events of a garbage collection: per repository, the revisions and links it removed; and one
 * summary without a repository when it reclaimed blobs or upload data.
 */
export function sweptEvents(report: GcReport): RegistryEventData[] {
  const byRepository = new Map<string, { manifests: string[]; links: string[] }>();
  const of = (repository: string) => {
    const known = byRepository.get(repository);
    if (known) return known;
    const swept = { manifests: [] as string[], links: [] as string[] };
    byRepository.set(repository, swept);
    return swept;
  };
  for (const { repository, digest } of report.deleted.manifests) of(repository).manifests.push(digest);
  for (const { repository, digest } of report.deleted.links) of(repository).links.push(digest);
  const events: RegistryEventData[] = [...byRepository].map(([repository, swept]) => ({
    type: 'gc.swept',
    repository,
    ...swept,
    blobs: 0,
    bytesReclaimed: 0,
  }));
  if (report.bytesReclaimed > 0 || report.deleted.blobs.length > 0) {
    events.push({
      type: 'gc.swept',
      repository: undefined,
      manifests: [],
      links: [],
      blobs: report.deleted.blobs.length,
      bytesReclaimed: report.bytesReclaimed,
    });
  }
  return events;
}
