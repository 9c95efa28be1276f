/**
 * Several instances of every process: the training example run with two processes per service and
 * two saga monitors (`processors up --instances 2`), each pair sharing its consumer groups. A batch
 * of sagas runs across both; then the second instance of every process is SIGKILLed at once, mid-run,
 * and not restarted: the survivors take its partitions over. Every saga must end as it was meant
 * to, its business effects once, every outbox row in the log once, and the projection rebuilt from
 * the log must equal the live one. With `writeResults`, the row goes to
 * bench/results/faults-<date>-instances.json and .md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../core/wait.ts';
import { killProcessor, processorPlan, processorsStatus } from '../../processors/supervisor.ts';
import { checkDelivery, checkEffects, countByState, FAULT_DEADLINES_ENV, outcomeProblems, replayDifferences, runningCount, startBatch, startProbeSaga } from './batch.ts';
import { faultTable, groupMembers, TRAINING_PROCESSES, writeFaultResults, type FaultRow } from './faults.ts';
import { configOf, startProcessors, stopProcessors, testProject, TRAINING_CONFIG, waitForNoLag, waitForTerminal } from './saga.ts';

export function scaleOutScenario(options: { sagas: number; writeResults: boolean }): void {
  const { sagas: SAGAS } = options;
  const suiteStart = Date.now();

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
      expect(processorsStatus(config, project).map((s) => [s.name, s.running])).toEqual(TRAINING_PROCESSES.flatMap((name) => [[name, true], [`${name}.2`, true]]));
      for (const group of new Set(processorPlan(config, project, 2).flatMap((p) => p.groups))) {
        expect((await groupMembers(group)).members, group).toHaveLength(2);
      }
    });

    it(`given ${SAGAS} sagas running across both instances, when one instance of each process is SIGKILLed mid-run, then every saga ends and each effect happens once`, async () => {
      const config = configOf(TRAINING_CONFIG);
      const project = await testProject(TRAINING_CONFIG);
      // Given a batch under way, some made to fail at various steps; trainings of 6 to 14 s, so most are mid-run at the kill
      const batch = await startBatch(SAGAS, 'scale_out', (i) => 6_000 + (i % 5) * 2_000);
      const runningAtKill = await runningCount(batch);

      // When the second instance of every process is killed at once, as a crash
      const killedAt = Date.now();
      const killed = TRAINING_PROCESSES.map((name) => killProcessor(config, project, `${name}.2`));
      expect(killed.every((pid) => pid !== undefined)).toBe(true);
      await waitFor('the killed instances to be gone', () => processorsStatus(config, project).filter((s) => s.name.endsWith('.2')).every((s) => !s.running), { timeoutMs: 10_000 });
      // The survivors hold every partition once each group has dropped its killed member (after the session timeout)
      const groups = [...new Set(processorPlan(config, project, 2).flatMap((p) => p.groups))];
      await waitFor('every group Stable with its survivor alone', async () => {
        for (const group of groups) {
          const g = await groupMembers(group);
          if (g.state !== 'Stable' || g.members.length !== 1) return false;
        }
        return true;
      }, { timeoutMs: 120_000, intervalMs: 500 });
      const healthyMs = Date.now() - killedAt;

      // Then a saga started now completes: the survivors serve new work
      const probe = await startProbeSaga(batch);
      const probeStatus = (await waitForTerminal([probe.sagaId], 180_000)).get(probe.sagaId)!.status;
      const recoveredMs = Date.now() - killedAt;
      expect(probeStatus).toBe('Completed');

      // And every saga ends as it was meant to
      const outcomes = await waitForTerminal(batch.ids, 300_000);
      expect(outcomeProblems(batch, outcomes)).toEqual([]);
      await waitForNoLag(TRAINING_CONFIG, 120_000);
      for (const group of groups) expect((await groupMembers(group)).members, group).toHaveLength(1);

      // And the business tables agree with each outcome, every outbox row reached the log once
      const effects = await checkEffects(batch, outcomes);
      const delivery = await checkDelivery(batch);
      const row: FaultRow = {
        fault: 'one of two instances of every process',
        sagas: batch.ids.length,
        runningAtKill,
        outcomes: countByState(outcomes),
        lost: [...delivery.lost, ...effects.lost],
        duplicated: [...delivery.duplicated, ...effects.duplicated],
        stuck: [],
        otherProblems: runningAtKill < SAGAS / 2 ? [`only ${runningAtKill} of ${SAGAS} sagas were running when the SIGKILL came: not mid-run`] : [],
        healthyMs,
        recoveredMs,
      };
      console.log(faultTable([row]));
      expect({ lost: row.lost, duplicated: row.duplicated, problems: row.otherProblems }).toEqual({ lost: [], duplicated: [], problems: [] });

      // And the projection rebuilt from the log equals the live one
      const differences = await replayDifferences([...batch.ids, probe.sagaId]);
      expect(differences, JSON.stringify(differences).slice(0, 2000)).toEqual([]);
      if (options.writeResults) {
        const files = writeFaultResults([row], {
          date: new Date().toISOString().slice(0, 10),
          sagasPerFault: batch.ids.length,
          elapsedMs: Date.now() - suiteStart,
          replayDifferences: differences.length,
          description: `${batch.ids.length} training sagas across two instances of every process of the training example (four services, two saga monitors); the second instance of each SIGKILLed at once mid-run and not restarted. Healthy after: from the SIGKILL until every group is Stable with its survivor alone; time to recover: until a saga started then completed. The run took ${((Date.now() - suiteStart) / 60_000).toFixed(1)} min.`,
        }, 'instances');
        console.log(`written to ${files.join(', ')}`);
      }
    }, 900_000);
  });
}
