/**
 * Crash recovery scenario: while N sagas run concurrently, processors are killed with SIGKILL one
 * at a time (no shutdown, as a crash) and restarted. Every saga must reach a terminal state and
 * the business tables must agree with the outcomes: no effect lost, none applied twice.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import type { ProcessorName } from '../../processors/index.ts';
import { OutboxWriter } from '../../outbox-connector/outbox-writer.ts';
import { loadContracts } from '../../schemas/contracts.ts';
import { checkDelivery, checkEffects, FAULT_DEADLINES_ENV, outcomeProblems, replayDifferences, startBatch } from './batch.ts';
import { crashAndRestart } from './faults.ts';
import { config } from './fixtures.ts';
import { startProcessors, stopProcessors, waitForConsumerGroups, waitForNoLag, waitForTerminal } from './saga.ts';

export function crashScenario(SAGAS: number, killed: readonly ProcessorName[]): void {
describe('crash recovery', () => {
  beforeAll(async () => {
    await startProcessors(FAULT_DEADLINES_ENV);
  });

  afterAll(async () => {
    await stopProcessors();
  });

  it(`every one of ${SAGAS} sagas reaches a terminal state with consistent business tables when ${killed.join(', ')} are SIGKILLed mid-run`, async () => {
    // Given the sagas started at once, one model each, some made to fail at various steps
    const batch = await startBatch(SAGAS, 'crash', await OutboxWriter.create(config.schemaRegistryUrl, loadContracts()));

    // When each processor in turn is killed with SIGKILL mid-run, then restarted
    for (const name of killed) {
      await crashAndRestart(name);
      await waitForConsumerGroups(); // one fault at a time: the next kill comes once every group is back
    }

    // Then every saga ends Completed or Compensated, each made to fail compensated, most others completed
    const outcomes = await waitForTerminal(batch.ids, 300_000);
    expect(outcomeProblems(batch, outcomes)).toEqual([]);
    await waitForNoLag(120_000);

    // And the business tables agree with each outcome — nothing held, nothing done twice
    expect(await checkEffects(batch, outcomes)).toEqual({ lost: [], duplicated: [] });
    // And every committed outbox row reached Kafka, each step decided once
    expect(await checkDelivery(batch)).toEqual({ lost: [], duplicated: [] });

    // And the projection rebuilt from the log equals the live one
    const differences = await replayDifferences(batch.ids);
    expect(differences, JSON.stringify(differences).slice(0, 2000)).toEqual([]);
  }, 600_000);
});
}
