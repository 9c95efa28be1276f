import { describe, expect, it } from 'vitest';
import type { ComponentStatus } from '../infra/stack/component.ts';
import { healthReport } from './health.ts';

const component = (name: ComponentStatus['name'], healthy = true): ComponentStatus => ({ name, url: `http://${name}`, healthy, ...(healthy ? {} : { detail: 'not running' }) });
const processor = (name: 'model-service' | 'saga-state', healthy = true) => ({ name, url: `http://127.0.0.1/${name}`, healthy, metrics: [], ...(healthy ? {} : { detail: 'not running' }) });

describe('health', () => {
  it('is ok (200) when every component and processor is healthy', () => {
    const { httpStatus, report } = healthReport([component('postgres'), component('kafka')], [processor('model-service')]);
    expect(httpStatus).toBe(200);
    expect(report).toEqual({
      status: 'ok',
      components: [component('postgres'), component('kafka')],
      processors: [{ name: 'model-service', url: 'http://127.0.0.1/model-service', healthy: true }],
    });
  });

  it.each([
    ['a component', [component('postgres'), component('connect', false)], [processor('model-service')]],
    ['a processor', [component('postgres')], [processor('model-service'), processor('saga-state', false)]],
  ])('is degraded (503) when %s is not healthy, saying why', (_what, components, processors) => {
    const { httpStatus, report } = healthReport(components, processors);
    expect(httpStatus).toBe(503);
    expect(report.status).toBe('degraded');
    expect(JSON.stringify(report)).toContain('not running');
  });
});
