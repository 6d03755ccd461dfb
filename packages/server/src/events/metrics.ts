import type { DeliveryReport, EventDispatcher } from '@wharf/core';
import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Delivery metrics per notification endpoint: events delivered and dead-lettered, failed attempts,
 * and the batches this replica saw pending at its last look at the outbox.
 */
export function notificationMetrics(registry: Registry, dispatcher: () => EventDispatcher | undefined) {
  const labelNames = ['endpoint'];
  const delivered = new Counter({
    name: 'wharf_notifications_delivered_events_total',
    help: 'Events delivered, by endpoint.',
    labelNames,
    registers: [registry],
  });
  const failed = new Counter({
    name: 'wharf_notifications_failed_attempts_total',
    help: 'Delivery attempts that failed (to be retried or dead-lettered), by endpoint.',
    labelNames,
    registers: [registry],
  });
  const deadLettered = new Counter({
    name: 'wharf_notifications_dead_lettered_events_total',
    help: 'Events dead-lettered after the last attempt, by endpoint (see `wharf events list`).',
    labelNames,
    registers: [registry],
  });
  new Gauge({
    name: 'wharf_notifications_pending_batches',
    help: 'Batches waiting for delivery, by endpoint, at the last look at the outbox.',
    labelNames,
    registers: [registry],
    collect() {
      for (const { endpoint, pending } of dispatcher()?.stats() ?? []) this.set({ endpoint }, pending);
    },
  });
  const seen = (endpoint: string) => {
    // Every endpoint shows up from the start, at zero.
    delivered.inc({ endpoint }, 0);
    failed.inc({ endpoint }, 0);
    deadLettered.inc({ endpoint }, 0);
  };
  return {
    /** Registers the configured endpoints' series. */
    endpoints(names: readonly string[]): void {
      for (const name of names) seen(name);
    },
    /** The dispatcher's report of one attempt (`events.onDelivery`). */
    delivery(report: DeliveryReport): void {
      const endpoint = { endpoint: report.endpoint };
      if (report.outcome === 'delivered') delivered.inc(endpoint, report.events);
      else failed.inc(endpoint);
      if (report.outcome === 'dead-lettered') deadLettered.inc(endpoint, report.events);
    },
  };
}
