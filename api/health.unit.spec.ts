import { describe, expect, it } from 'vitest';
import type { ComponentStatus } from '../infra/stack/component.ts';
import type { DeliveryStatus } from '../outbox-connector/delivery-health.ts';
import { healthReport } from './health.ts';

const component = (name: ComponentStatus['name'], healthy = true): ComponentStatus => ({ name, url: `http://${name}`, healthy, ...(healthy ? {} : { detail: 'not running' }) });
const delivery = (healthy = true): DeliveryStatus => ({
  connector: 'payments-outbox', database: 'payments', slot: 'sagaline_payments_outbox', task: 'RUNNING/RUNNING', position: null, lastHeartbeatAt: null,
  healthy, state: healthy ? 'streaming' : 'stalled', ...(healthy ? {} : { detail: 'stalled: no heartbeat for 300 s although Connect reports RUNNING' }),
});
const processor = (name: 'payments' | 'saga-monitor', healthy = true) => ({ name, url: `http://127.0.0.1/${name}`, healthy, metrics: [], ...(healthy ? {} : { detail: 'not running' }) });

describe('health', () => {
  it('is ok (200) when every component, connector and processor is healthy', () => {
    const { httpStatus, report } = healthReport([component('postgres'), component('kafka')], [delivery()], [processor('payments')]);
    expect(httpStatus).toBe(200);
    expect(report).toEqual({
      status: 'ok',
      components: [component('postgres'), component('kafka')],
      delivery: [delivery()],
      processors: [{ name: 'payments', url: 'http://127.0.0.1/payments', healthy: true }],
    });
  });

  it.each([
    ['a component', [component('postgres'), component('connect', false)], [delivery()], [processor('payments')], 'not running'],
    ['a processor', [component('postgres')], [delivery()], [processor('payments'), processor('saga-monitor', false)], 'not running'],
    ['a connector (Connect calling it RUNNING)', [component('postgres'), component('connect')], [delivery(false)], [processor('payments')], 'no heartbeat for 300 s'],
    ['delivery that could not be inspected', [component('postgres')], null, [processor('payments')], '"delivery":null'],
  ])('is degraded (503) when %s is not healthy, saying why', (_what, components, deliveries, processors, why) => {
    const { httpStatus, report } = healthReport(components, deliveries, processors);
    expect(httpStatus).toBe(503);
    expect(report.status).toBe('degraded');
    expect(JSON.stringify(report)).toContain(why);
  });
});
