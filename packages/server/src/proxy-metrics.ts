import type { ProxyCacheEvent, RegistryObserver, UpstreamRequestEvent } from '@wharf/core';
import { Counter, type Registry } from 'prom-client';

/** distribution's `type` label: a tag lookup is a manifest's. */
const typeOf = (kind: ProxyCacheEvent['kind']): string => (kind === 'tag' ? 'manifest' : kind);

/**
 * The pull-through cache's metrics: distribution's `registry_proxy_*` (requests, hits, misses and
 * bytes pulled, by type), and wharf's per upstream (its namespace: bounded by the configuration)
 * for stale answers and every upstream request.
 */
export function createProxyMetrics(
  registry: Registry,
): Pick<RegistryObserver, 'proxyCache' | 'upstreamRequest'> {
  const counter = (name: string, help: string, labelNames: string[]) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const requests = counter('registry_proxy_requests_total', 'Pulls of proxied content, by type.', ['type']);
  const hits = counter('registry_proxy_hits_total', 'Pulls answered from the cache, by type.', ['type']);
  const misses = counter('registry_proxy_misses_total', 'Pulls fetched from the upstream, by type.', [
    'type',
  ]);
  const pulledBytes = counter(
    'registry_proxy_pulled_bytes_total',
    'Bytes of blobs and manifests fetched from upstreams.',
    ['type'],
  );
  const stale = counter(
    'wharf_proxy_stale_total',
    'Pulls answered from the cache because the upstream failed, by upstream and type.',
    ['upstream', 'type'],
  );
  const upstreamRequests = counter(
    'wharf_proxy_upstream_requests_total',
    'Requests to upstreams, by upstream, kind and result (the status, or why there was none).',
    ['upstream', 'kind', 'result'],
  );
  const upstreamBytes = counter(
    'wharf_proxy_upstream_bytes_total',
    'Response bytes received from upstreams, by upstream and kind.',
    ['upstream', 'kind'],
  );
  return {
    proxyCache({ upstream, kind, outcome }: ProxyCacheEvent) {
      const type = typeOf(kind);
      requests.inc({ type });
      if (outcome === 'hit' || outcome === 'revalidated') hits.inc({ type });
      else if (outcome === 'miss') misses.inc({ type });
      else if (outcome === 'stale') stale.inc({ upstream, type });
    },
    upstreamRequest({ upstream, kind, status, error, bytes }: UpstreamRequestEvent) {
      upstreamRequests.inc({ upstream, kind, result: error ?? String(status) });
      upstreamBytes.inc({ upstream, kind }, bytes);
      if (kind === 'blob' || kind === 'manifest') pulledBytes.inc({ type: kind }, bytes);
    },
  };
}
