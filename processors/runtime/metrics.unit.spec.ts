import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { countConsumed, countPublished, createProcessorMetrics, serveMetrics, timed, type MetricsServer } from './metrics.ts';

describe('processor metrics', () => {
  const servers: MetricsServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('labels every series with the service and counts what the shell reports', async () => {
    // Given a processor's metrics
    const metrics = createProcessorMetrics('payments');

    // When it consumes two messages (one a duplicate), publishes one after commit and times a handler
    countConsumed(metrics, 'sagaline.orders', 'OrderPlaced');
    countConsumed(metrics, 'sagaline.orders', 'OrderPlaced');
    countPublished(metrics, [{ type: 'PaymentCharged' }]);
    await timed(metrics, async () => undefined);

    // Then the text exposition has each counter and the histogram, with the service label
    const text = await metrics.registry.metrics();
    expect(text).toContain('sagaline_messages_consumed_total{topic="sagaline.orders",type="OrderPlaced",service="payments"} 2');
    expect(text).toContain('sagaline_messages_published_total{type="PaymentCharged",service="payments"} 1');
    expect(text).toContain('sagaline_handler_duration_seconds_count{service="payments"} 1');
  });

  it('observes how long each message waited since its Kafka timestamp, never below zero', async () => {
    // Given a processor's metrics
    const metrics = createProcessorMetrics('payments');

    // When three messages are consumed at t=10,000 ms: appended 40 ms and 3 s before, and one
    // stamped 5 ms in the future by a producer whose clock runs ahead (and one with no timestamp)
    countConsumed(metrics, 'sagaline.orders', 'OrderPlaced', 9_960, 10_000);
    countConsumed(metrics, 'sagaline.orders', 'OrderPlaced', 7_000, 10_000);
    countConsumed(metrics, 'sagaline.orders', 'OrderPlaced', 10_005, 10_000);
    countConsumed(metrics, 'sagaline.orders', 'OrderPlaced', Number.NaN, 10_000);

    // Then the three with a timestamp are observed: 0.04 s, 3 s and 0 s, in their buckets
    const text = await metrics.registry.metrics();
    expect(text).toContain('sagaline_consume_delay_seconds_count{service="payments"} 3');
    expect(text).toContain('sagaline_consume_delay_seconds_sum{service="payments"} 3.04');
    expect(text).toContain('sagaline_consume_delay_seconds_bucket{le="0.005",service="payments"} 1');
    expect(text).toContain('sagaline_consume_delay_seconds_bucket{le="0.05",service="payments"} 2');
    expect(text).toContain('sagaline_consume_delay_seconds_bucket{le="2.5",service="payments"} 2');
    expect(text).toContain('sagaline_consume_delay_seconds_bucket{le="5",service="payments"} 3');
    expect(text).toContain('sagaline_messages_consumed_total{topic="sagaline.orders",type="OrderPlaced",service="payments"} 4');
  });

  it('times a handler that throws too', async () => {
    const metrics = createProcessorMetrics('saga-state');
    await expect(timed(metrics, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await metrics.registry.metrics()).toContain('sagaline_handler_duration_seconds_count{service="saga-state"} 1');
  });

  it('serves /metrics as text, /metrics.json and /health, and nothing else', async () => {
    // Given a metrics endpoint on a free port
    const metrics = createProcessorMetrics('shipping');
    countConsumed(metrics, 'sagaline.orders', 'OrderShipped');
    const server = await serveMetrics(metrics.registry, 0);
    servers.push(server);

    // When it is asked for each format
    const text = await fetch(`${server.url}/metrics`);
    const json = await fetch(`${server.url}/metrics.json`);
    const other = await fetch(`${server.url}/other`);
    const health = await fetch(`${server.url}/health`);

    // Then text and JSON carry the same counter, and other paths are a JSON 404
    expect(text.headers.get('content-type')).toContain('text/plain');
    expect(await text.text()).toContain('sagaline_messages_consumed_total{topic="sagaline.orders",type="OrderShipped",service="shipping"} 1');
    const consumed = ((await json.json()) as { name: string; values: { value: number; labels: Record<string, string> }[] }[]).find((m) => m.name === 'sagaline_messages_consumed_total');
    expect(consumed?.values).toEqual([{ value: 1, labels: { topic: 'sagaline.orders', type: 'OrderShipped', service: 'shipping' } }]);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('up');
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('refuses a port in use with a ConfigError naming the variable to change', async () => {
    const first = await serveMetrics(createProcessorMetrics('a').registry, 0);
    servers.push(first);
    const port = Number(new URL(first.url).port);
    await expect(serveMetrics(createProcessorMetrics('b').registry, port)).rejects.toThrow(ConfigError);
    await expect(serveMetrics(createProcessorMetrics('b').registry, port)).rejects.toThrow(/metrics port \d+ is already in use; choose other ports with SAGALINE_METRICS_PORT_BASE/);
  });
});
