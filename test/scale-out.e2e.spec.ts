/**
 * Several instances of every process: the training example run with two processes per service and
 * two saga monitors (`processors up --instances 2`), each pair sharing its consumer groups. A batch
 * of sagas runs across both; then one instance of each is SIGKILLed mid-run and the survivors take
 * its partitions over. Every saga ends, its business effects happen once, every outbox row reaches
 * the log once, and the projection rebuilt from the log equals the live one. The full fault run
 * (`npm run test:faults`) does the same with more sagas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killProcessor, processorPlan, processorsStatus } from '../processors/supervisor.ts';
import { checkDelivery, checkEffects, FAULT_DEADLINES_ENV, outcomeProblems, replayDifferences, startBatch } from './support/batch.ts';
import { groupMembers, TRAINING_PROCESSES } from './support/faults.ts';
import { configOf, startProcessors, stopProcessors, testProject, TRAINING_CONFIG, waitForNoLag, waitForTerminal } from './support/saga.ts';
import { waitFor } from '../core/wait.ts';

const SAGAS = 24;

describe('several instances of every process', () => {
  beforeAll(async () => {
    await startProcessors(FAULT_DEADLINES_ENV, TRAINING_CONFIG, 2);
  });

  afterAll(async () => {
    await stopProcessors(TRAINING_CONFIG);
  });

  it('given two instances of each process, then every consumer group has two members and `processors status` lists both', async () => {
    const config = configOf(TRAINING_CONFIG);
    const project = await testProject(TRAINING_CONFIG);
    const status = processorsStatus(config, project);
    expect(status.map((s) => [s.name, s.running])).toEqual(TRAINING_PROCESSES.flatMap((name) => [[name, true], [`${name}.2`, true]]));
    for (const group of new Set(processorPlan(config, project, 2).flatMap((p) => p.groups))) {
      expect((await groupMembers(group)).members, group).toHaveLength(2);
    }
  });

  it(`given ${SAGAS} sagas running across both instances, when one instance of each process is SIGKILLed mid-run, then every saga ends and each effect happens once`, async () => {
    const config = configOf(TRAINING_CONFIG);
    const project = await testProject(TRAINING_CONFIG);
    // Given a batch under way, some made to fail at various steps
    const batch = await startBatch(SAGAS, 'scale-out', (i) => 1_000 + (i % 4) * 1_000);

    // When the second instance of every process is killed at once, as a crash
    const killed = TRAINING_PROCESSES.map((name) => killProcessor(config, project, `${name}.2`));
    expect(killed.every((pid) => pid !== undefined)).toBe(true);
    await waitFor('the killed instances to be gone', () => processorsStatus(config, project).filter((s) => s.name.endsWith('.2')).every((s) => !s.running), { timeoutMs: 10_000 });

    // Then the survivors take the partitions over and every saga ends as it was meant to
    const outcomes = await waitForTerminal(batch.ids, 300_000);
    expect(outcomeProblems(batch, outcomes)).toEqual([]);
    await waitForNoLag(TRAINING_CONFIG, 120_000);
    for (const group of new Set(processorPlan(config, project, 2).flatMap((p) => p.groups))) {
      expect((await groupMembers(group)).members, group).toHaveLength(1);
    }

    // And the business tables agree with each outcome, every outbox row reached the log once
    expect(await checkEffects(batch, outcomes)).toEqual({ lost: [], duplicated: [] });
    expect(await checkDelivery(batch)).toEqual({ lost: [], duplicated: [] });

    // And the projection rebuilt from the log equals the live one
    const differences = await replayDifferences(batch.ids);
    expect(differences, JSON.stringify(differences).slice(0, 2000)).toEqual([]);
  }, 600_000);
});
