/** Composition root of the processors: builds each one's clients from the Config and runs it. */
import { kafkaClient, pgPool, registryClient } from '../core/clients.ts';
import type { Config } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { startDeliveryGuard } from '../outbox-connector/delivery-guard.ts';
import { OutboxWriter } from '../outbox-connector/outbox-writer.ts';
import { loadContracts } from '../schemas/contracts.ts';
import { auditService } from './audit-service/service.ts';
import { modelService } from './model-service/service.ts';
import { resourceService } from './resource-service/service.ts';
import { runParticipant, type ParticipantDefinition } from './runtime/participant.ts';
import { runSagaState, DATABASE as SAGA_STATE_DATABASE } from './saga-state/service.ts';
import { finishDueJobs, trainingService } from './training-service/service.ts';
import { startPoller } from '../core/poller.ts';
import { createProcessorMetrics, serveMetrics } from './runtime/metrics.ts';

export const PROCESSOR_NAMES = ['model-service', 'resource-service', 'training-service', 'audit-service', 'saga-state'] as const;
export type ProcessorName = (typeof PROCESSOR_NAMES)[number];

export function isProcessorName(name: string): name is ProcessorName {
  return (PROCESSOR_NAMES as readonly string[]).includes(name);
}

/** Where processor `name` serves its metrics: base + 1 + its index in PROCESSOR_NAMES. */
export function processorMetricsPort(config: Config, name: ProcessorName): number {
  const port = config.processorMetricsPortBase + 1 + PROCESSOR_NAMES.indexOf(name);
  if (port > 65535) throw new ConfigError(`SAGALINE_METRICS_PORT_BASE ${config.processorMetricsPortBase} leaves no port for ${name}'s metrics; choose a base up to ${65535 - PROCESSOR_NAMES.length}`);
  return port;
}

export function databaseOf(name: ProcessorName, config: Config): string {
  return name === 'saga-state' ? SAGA_STATE_DATABASE : participantOf(name, config).database;
}

function participantOf(name: Exclude<ProcessorName, 'saga-state'>, config: Config): ParticipantDefinition<unknown, unknown> {
  switch (name) {
    case 'model-service': return modelService as ParticipantDefinition<unknown, unknown>;
    case 'resource-service': return resourceService(config) as ParticipantDefinition<unknown, unknown>;
    case 'training-service': return trainingService as ParticipantDefinition<unknown, unknown>;
    case 'audit-service': return auditService as ParticipantDefinition<unknown, unknown>;
    default: {
      const unreachable: never = name;
      throw new ConfigError(`unknown processor ${String(unreachable)}`);
    }
  }
}

/**
 * Starts one processor in this process; resolves once it consumes. Its metrics endpoint is bound
 * first, so a port already in use fails the start before anything consumes.
 */
export async function startProcessor(name: ProcessorName, config: Config): Promise<{ stop(): Promise<void> }> {
  const log = createLogger(config, name).child({ service: name });
  const database = databaseOf(name, config);
  const metrics = createProcessorMetrics(name);
  const server = await serveMetrics(metrics.registry, processorMetricsPort(config, name));
  const pool = pgPool(config, database, 5, (err) => log.warn({ err: err.message, database }, 'idle database connection lost; the pool reconnects on demand'));
  try {
    const kafka = kafkaClient(config, `sagaline-${name}`);
    const registry = registryClient(config);
    const writer = await OutboxWriter.create(config.schemaRegistryUrl, loadContracts());
    const deps = { config, pool, writer, log, kafka, registry, metrics };

    if (name === 'saga-state') {
      const running = await runSagaState(deps);
      // The delivery guard rides along with the watchdog: one process that always runs.
      const guard = startDeliveryGuard(config, log.child({ component: 'delivery-guard' }));
      log.info({ database, metrics: `${server.url}/metrics`, deliveryGuard: guard !== undefined }, 'saga-state projection and watchdog running');
      return { stop: async () => { await guard?.stop(); await running.stop(); await server.close(); await pool.end(); } };
    }

    const consumer = await runParticipant(deps, participantOf(name, config));
    const poller = name === 'training-service' ? startPoller('due training jobs', config.saga.timerPollMs, log, () => finishDueJobs(deps)) : undefined;
    log.info({ database, metrics: `${server.url}/metrics` }, `${name} running`);
    return {
      async stop() {
        await poller?.stop();
        await consumer.stop();
        await server.close();
        await pool.end();
      },
    };
  } catch (err) {
    await server.close();
    await pool.end().catch(() => undefined);
    throw err;
  }
}
