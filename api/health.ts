/** `GET /health`: the stack's components and the processors, ok only when every one is healthy. */
import type { ComponentStatus } from '../infra/stack/component.ts';
import type { ProcessorProbe } from './metrics.ts';

export interface HealthReport {
  status: 'ok' | 'degraded';
  components: ComponentStatus[];
  processors: { name: string; healthy: boolean; url: string; detail?: string }[];
}

export function healthReport(components: readonly ComponentStatus[], processors: readonly ProcessorProbe[]): { httpStatus: 200 | 503; report: HealthReport } {
  const healthy = components.every((c) => c.healthy) && processors.every((p) => p.healthy);
  return {
    httpStatus: healthy ? 200 : 503,
    report: {
      status: healthy ? 'ok' : 'degraded',
      components: [...components],
      processors: processors.map(({ name, healthy: ok, url, detail }) => ({ name, healthy: ok, url, ...(detail ? { detail } : {}) })),
    },
  };
}
