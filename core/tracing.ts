/**
 * OpenTelemetry tracing, off unless the standard variables ask for it: set
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) and each sagaline process
 * exports its spans over OTLP/HTTP — `http/protobuf` by default, `http/json` with
 * `OTEL_EXPORTER_OTLP_PROTOCOL` — as the service `OTEL_SERVICE_NAME` (default `sagaline-<service>`),
 * with `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*` and `OTEL_SDK_DISABLED` as
 * the specification says.
 *
 * One saga is one trace: every message carries a W3C `traceparent`, and each span below is a child
 * of the one that wrote the message it handles — the outbox write, the CDC hop (from the row's
 * commit to the consumer), the participant's handling, the calls of HTTP participants.
 * With tracing off every helper here costs a branch and changes nothing.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ConfigError } from './errors.ts';

export { SpanKind };

let provider: NodeTracerProvider | undefined;

/** Whether the environment asks for traces (an OTLP endpoint set, the SDK not disabled, the exporter not `none`). */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return false;
  if ((env.OTEL_TRACES_EXPORTER ?? '').split(',').map((e) => e.trim()).includes('none')) return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** Whether this process records spans. */
export const tracingOn = (): boolean => provider !== undefined;

/**
 * Starts exporting this process's spans when the environment asks for it (once per process: the
 * first caller names the service). Returns whether tracing is on.
 */
export function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (provider) return true;
  if (!tracingRequested(env)) return false;
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new ConfigError(`OTEL_EXPORTER_OTLP_PROTOCOL ${JSON.stringify(protocol)} is not supported: sagaline exports traces over http/protobuf or http/json`);
  }
  const exporter = protocol === 'http/json' ? new JsonExporter() : new ProtobufExporter();
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the env detector) win over the default name.
  const resource = resourceFromAttributes({ 'service.name': serviceName }).merge(detectResources({ detectors: [envDetector] }));
  provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  provider.register();
  return true;
}

/** Sends what is buffered and stops (before a short-lived process exits). */
export async function stopTracing(): Promise<void> {
  const p = provider;
  provider = undefined;
  await p?.shutdown().catch(() => undefined);
}

const tracer = () => trace.getTracer('sagaline');

/** The active span's context; else the one a `traceparent` names (first, when `messageFirst`). */
function parentContext(traceparent: string | undefined, messageFirst = false): Context {
  const active = context.active();
  if (traceparent && (messageFirst || !trace.getSpan(active)?.spanContext().traceId)) return propagation.extract(ROOT_CONTEXT, { traceparent });
  return active;
}

/** The `traceparent` of `span`, or `fallback` when tracing is off. */
export function traceparentOf(span: Span | undefined, fallback: string): string {
  if (!provider || !span) return fallback;
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier);
  return carrier.traceparent ?? fallback;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The message's `traceparent`: the parent when no span is active (or always, with `messageFirst`). */
  traceparent?: string;
  messageFirst?: boolean;
  startTime?: number;
}

function newSpan(name: string, options: SpanOptions, parent: Context): Span {
  const { kind = SpanKind.INTERNAL, attributes, startTime } = options;
  return tracer().startSpan(name, { kind, ...(attributes ? { attributes } : {}), ...(startTime ? { startTime } : {}) }, parent);
}

/** Runs `work` inside a span (active for what it calls, ended when it settles, an error recorded). */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (!provider) return work(undefined);
  const parent = parentContext(options.traceparent, options.messageFirst);
  const span = newSpan(name, options, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}

/** A span the caller ends (undefined with tracing off); what runs meanwhile is not inside it unless the caller passes its traceparent on. */
export function startSpan(name: string, options: SpanOptions): Span | undefined {
  if (!provider) return undefined;
  return newSpan(name, options, parentContext(options.traceparent, options.messageFirst));
}

/** A span that is over as soon as it starts (or that started at `startTime`): returns its `traceparent`. */
export function recordSpan(name: string, options: SpanOptions, fallback: string): string {
  if (!provider) return fallback;
  const span = newSpan(name, options, parentContext(options.traceparent, options.messageFirst));
  span.end();
  return traceparentOf(span, fallback);
}
