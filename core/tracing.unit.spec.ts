import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import { inSpan, recordSpan, startTracing, traceparentOf, tracingOn, tracingRequested } from './tracing.ts';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('tracing configuration', () => {
  it('given no OTLP endpoint, then tracing is off; given one, on unless the SDK is disabled or the exporter is none', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
  });

  it('given a protocol sagaline does not export with, then a ConfigError naming it, and tracing stays off', () => {
    expect(() => startTracing('svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(ConfigError);
    expect(() => startTracing('svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/grpc/);
    expect(tracingOn()).toBe(false);
  });

  it('given tracing off, then the helpers run the work and hand back the message\'s traceparent unchanged', async () => {
    expect(startTracing('svc', {})).toBe(false);
    expect(recordSpan('outbox X', { traceparent: TRACEPARENT }, TRACEPARENT)).toBe(TRACEPARENT);
    expect(await inSpan('handle X', { traceparent: TRACEPARENT }, async (span) => [span, traceparentOf(span, TRACEPARENT)])).toEqual([undefined, TRACEPARENT]);
    await expect(inSpan('handle X', {}, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });
});
