import { describe, expect, it } from 'vitest';
import type { ComponentStatus } from '../infra/stack/component.ts';
import type { DeliveryStatus } from '../outbox-connector/delivery-health.ts';
import { healthReport } from './health.ts';

const component = (name: ComponentStatus['name'], healthy = true): ComponentStatus => ({ name, url: `http://${name}`, healthy, ...(healthy ? {} : { detail: 'not running' }) });
const delivery = (healthy = true): DeliveryStatus => ({
  connector: 'model-service-outbox', database: 'model_service', slot: 'sagaline_model_service_outbox', task: 'RUNNING/RUNNING', position: null, lastHeartbeatAt: null,
  healthy, state: healthy ? 'streaming' : 'stalled', ...(healthy ? {} : { detail: 'stalled: no heartbeat for 300 s although Connect reports RUNNING' }),
});
const processor = (name: 'model-service' | 'saga-state', healthy = true) => ({ name, url: `http://127.0.0.1/${name}`, healthy, metrics: [], ...(healthy ? {} : { detail: 'not running' }) });

describe('health', () => {
  it('is ok (200) when every component, connector and processor is healthy', () => {
    const { httpStatus, report } = healthReport([component('postgres'), component('kafka')], [delivery()], [processor('model-service')]);
    expect(httpStatus).toBe(200);
    expect(report).toEqual({
      status: 'ok',
      components: [component('postgres'), component('kafka')],
      delivery: [delivery()],
      processors: [{ name: 'model-service', url: 'http://127.0.0.1/model-service', healthy: true }],
    });
  });

  it.each([
    ['a component', [component('postgres'), component('connect', false)], [delivery()], [processor('model-service')], 'not running'],
    ['a processor', [component('postgres')], [delivery()], [processor('model-service'), processor('saga-state', false)], 'not running'],
    ['a connector (Connect calling it RUNNING)', [component('postgres'), component('connect')], [delivery(false)], [processor('model-service')], 'no heartbeat for 300 s'],
    ['delivery that could not be inspected', [component('postgres')], null, [processor('model-service')], '"delivery":null'],
  ])('is degraded (503) when %s is not healthy, saying why', (_what, components, deliveries, processors, why) => {
    const { httpStatus, report } = healthReport(components, deliveries, processors);
    expect(httpStatus).toBe(503);
    expect(report.status).toBe('degraded');
    expect(JSON.stringify(report)).toContain(why);
  });
});
