/**
 * A processor's Prometheus metrics: one registry per process, every series labelled with the
 * service. The shells count and time around the pure decisions; the decisions know nothing of it.
 * Each processor serves them on 127.0.0.1 (`GET /metrics` as text, `GET /metrics.json` for the
 * HTTP API, which merges every processor's into one scrape).
 */
import { createServer, type Server } from 'node:http';
import { Counter, Histogram, Registry } from 'prom-client';
import { ConfigError } from '../../core/errors.ts';

export interface ProcessorMetrics {
  registry: Registry;
  /** Every decoded message the processor handles, duplicates included. */
  consumed: Counter<'topic' | 'type'>;
  /** Messages written to the outbox in a transaction that committed. */
  published: Counter<'type'>;
  /** Handling one batch of messages (one message, for handlers that take one at a time), its transaction included. */
  handlerDuration: Histogram;
  /** Messages per batch handled in one transaction. */
  batchSize: Histogram;
  /** From a message's Kafka timestamp to the start of its handling here: what it waited in Kafka and the consumer. */
  consumeDelay: Histogram;
  /** One fetch from a broker, its wait for records included. */
  fetchDuration: Histogram;
}

export function createProcessorMetrics(service: string): ProcessorMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  return {
    registry,
    consumed: new Counter({ name: 'sagaline_messages_consumed_total', help: 'Decoded messages handled, duplicates included', labelNames: ['topic', 'type'], registers: [registry] }),
    published: new Counter({ name: 'sagaline_messages_published_total', help: 'Messages written to the outbox in a committed transaction', labelNames: ['type'], registers: [registry] }),
    handlerDuration: new Histogram({ name: 'sagaline_handler_duration_seconds', help: 'Time to handle one batch of messages, its transaction included', registers: [registry] }),
    consumeDelay: new Histogram({ name: 'sagaline_consume_delay_seconds', help: 'From a message\'s Kafka timestamp to the start of its handling in this process', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
    fetchDuration: new Histogram({ name: 'sagaline_fetch_duration_seconds', help: 'One fetch from a broker, its wait for records included', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    batchSize: new Histogram({ name: 'sagaline_batch_messages', help: 'Messages handled in one transaction', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], registers: [registry] }),
  };
}

/** Counts a message about to be handled, and how long it waited since its Kafka timestamp (as of `now`). */
export function countConsumed(metrics: ProcessorMetrics, topic: string, type: string, brokerTimestamp?: number, now = Date.now()): void {
  metrics.consumed.inc({ topic, type });
  if (brokerTimestamp !== undefined && Number.isFinite(brokerTimestamp)) metrics.consumeDelay.observe(Math.max(0, now - brokerTimestamp) / 1000);
}

/** Call once the transaction that wrote `messages` has committed. */
export function countPublished(metrics: ProcessorMetrics, messages: readonly { type: string }[]): void {
  for (const { type } of messages) metrics.published.inc({ type });
}

/** Runs `work` (a batch of `messages`), observing how long it took (whether it succeeded or threw). */
export async function timed<T>(metrics: ProcessorMetrics, work: () => Promise<T>, messages = 1): Promise<T> {
  metrics.batchSize.observe(messages);
  const end = metrics.handlerDuration.startTimer();
  try {
    return await work();
  } finally {
    end();
  }
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text), `GET /metrics.json` and `GET /health` (the process is up
 * and serving: a liveness answer, for probes) on host:port (0: any free port).
 */
export async function serveMetrics(registry: Registry, port: number, portVariable = 'SAGALINE_METRICS_PORT_BASE', host = '127.0.0.1'): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, contentType: string, body: string) => {
      res.writeHead(status, { 'content-type': contentType });
      res.end(body);
    };
    if (req.method === 'GET' && path === '/health') {
      reply(200, 'application/json', JSON.stringify({ status: 'up', uptimeSeconds: Math.round(process.uptime()) }));
      return;
    }
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/metrics.json')) {
      reply(404, 'application/json', JSON.stringify({ error: { code: 'NOT_FOUND', message: 'only GET /metrics, GET /metrics.json and GET /health' } }));
      return;
    }
    const render = path === '/metrics' ? registry.metrics().then((text) => [registry.contentType, text]) : registry.getMetricsAsJSON().then((json) => ['application/json', JSON.stringify(json)]);
    render.then(
      ([contentType, body]) => reply(200, contentType as string, body as string),
      (err: Error) => reply(500, 'application/json', JSON.stringify({ error: { code: 'INTERNAL', message: err.message } })),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new ConfigError(`metrics port ${port} is already in use; choose other ports with ${portVariable}`, { cause: err }) : err),
    );
    server.listen({ host, port, exclusive: true }, resolve);
  });
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
