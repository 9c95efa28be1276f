/**
 * `GET /health`: the stack's components, whether each outbox connector really delivers, and the
 * processors; ok only when every one is healthy.
 */
import type { ComponentStatus } from '../infra/stack/component.ts';
import type { DeliveryStatus } from '../outbox-connector/delivery-health.ts';
import type { ProcessorProbe } from './metrics.ts';

export interface HealthReport {
  status: 'ok' | 'degraded';
  components: ComponentStatus[];
  /** Per outbox connector; null when it could not be inspected (Postgres down). */
  delivery: DeliveryStatus[] | null;
  processors: { name: string; healthy: boolean; url: string; detail?: string }[];
}

export function healthReport(
  components: readonly ComponentStatus[],
  delivery: readonly DeliveryStatus[] | null,
  processors: readonly ProcessorProbe[],
): { httpStatus: 200 | 503; report: HealthReport } {
  const healthy = components.every((c) => c.healthy) && delivery !== null && delivery.every((d) => d.healthy) && processors.every((p) => p.healthy);
  return {
    httpStatus: healthy ? 200 : 503,
    report: {
      status: healthy ? 'ok' : 'degraded',
      components: [...components],
      delivery: delivery === null ? null : [...delivery],
      processors: processors.map(({ name, healthy: ok, url, detail }) => ({ name, healthy: ok, url, ...(detail ? { detail } : {}) })),
    },
  };
}
