/**
 * Fault injection across the whole pipeline: while a batch of sagas of both examples runs — model
 * trainings and model deployments, each example's services and saga monitor as their own
 * processes — each part in turn — Postgres (the postmaster with every process it forked), the
 * Kafka broker, Kafka Connect, the schema registry, every process of either example — is killed
 * with SIGKILL and started again at once, one fault at a time, a fresh batch for each. Afterwards, per fault: every saga terminal, the business
 * tables consistent with each outcome, no effect applied twice, every committed outbox row in
 * Kafka; after all of them, the projection replayed from the log equals the live one.
 *
 * The fault table (printed; with `writeResults`, also bench/results/faults-<date>.json and .md)
 * counts per fault:
 * - lost: committed outbox rows of the batch never in Kafka, plus effects an outcome requires
 *   that the tables lack (a completed saga's new version or audit entry, a compensation's release);
 * - duplicated effects: a model updated more than once, or one step of one saga decided twice
 *   (two distinct messages);
 * - stuck: sagas not terminal SETTLE_MS after the restart;
 * - time to recover: from the SIGKILL until a probe saga reaches Completed — a saga started once
 *   the killed part is healthy again (its readiness probe passes; a processor's consumer group has
 *   rejoined without the killed member) and every processor's consumer group is Stable with
 *   members. So it covers the restart, the reconnections the fault causes (Debezium to Postgres,
 *   consumers and Connect to the broker, Connect's connector tasks) and one saga end to end;
 * - healthy after: from the SIGKILL until the killed part's own health check passes.
 * The probe saga joins the batch's checks; `outcomes` counts it too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeoutError } from '../../core/errors.ts';
import { checkDelivery, checkEffects, countByState, FAULT_DEADLINES_ENV, outcomeProblems, replayDifferences, runningCount, startBatch, startProbeSaga, terminalCount } from './batch.ts';
import { checkDeploymentEffects, deploymentOutcomeProblems, startDeploymentBatch } from './deployment-batch.ts';
import { crashAndRestart, FAULT_PROJECTS, isClusterFault, killOne, faultTable, processExitWatch, ProcessorExitedError, writeFaultResults, type FaultRow, type FaultTarget } from './faults.ts';
import { deliveryLines, whereStuck } from './diagnose.ts';
import { startProcessors, stopProcessors, testProject, waitForConsumerGroups, waitForNoLag, waitForTerminal, waitForTerminalOrDeadline } from './saga.ts';

/** The deployment example's deadlines, scaled so a fault's recovery never times a step out (as FAULT_DEADLINES_ENV does for training). */
const DEPLOYMENT_FAULT_ENV = { DEPLOYMENT_DEADLINE_SCALE: '6' };

/** How long after the restart a saga may take to end before it counts as stuck (deadlines are 90 s). */
const SETTLE_MS = 240_000;
/** Longest wait for the killed part to be healthy again, and then for the pipeline to serve a new saga. */
const RECOVERY_MS = 180_000;
/** Longest wait for the processors to catch up with the log, and for every committed row to be found in Kafka. */
const NO_LAG_MS = 120_000;
const DELIVERY_CHECK_MS = 60_000;
/**
 * vitest's deadline for one fault: the sum of the suite's own deadlines and time for the checks,
 * so a failure is reported by the fault table and its reasons, never as a bare timeout.
 */
export const FAULT_TEST_TIMEOUT_MS = 2 * RECOVERY_MS + SETTLE_MS + NO_LAG_MS + DELIVERY_CHECK_MS + 120_000;
/** Trainings of 4 to 12 s: when the SIGKILL comes, most of the batch is still under way, spread over every step. */
const TRAINING_MS = (i: number) => 4_000 + (i % 5) * 2_000;

export function stackFaultSuite(options: {
  sagas: number;
  targets: readonly FaultTarget[];
  writeResults: boolean;
  /** Results go to bench/results/faults-<date>-<suffix>.json and .md (default: faults-<date>). */
  resultsSuffix?: string;
  /** What the run did, for the results file, when it is not the stack fault suite. */
  description?: string;
}): void {
  const { sagas: SAGAS, targets } = options;
  const rows: FaultRow[] = [];
  const everySaga: string[] = [];
  let replayDifferenceCount: number | null = null;
  let failIfProcessorExited: () => void = () => undefined;
  const suiteStart = Date.now();
  /** Deployment sagas per fault, beside the training ones. */
  const DEPLOYMENTS = Math.max(5, Math.round(SAGAS / 4));

  describe(`stack faults: ${targets.join(', ')} SIGKILLed and restarted while ${SAGAS} sagas run`, () => {
    beforeAll(async () => {
      await startProcessors(FAULT_DEADLINES_ENV, FAULT_PROJECTS[0]);
      await startProcessors(DEPLOYMENT_FAULT_ENV, FAULT_PROJECTS[1]);
      failIfProcessorExited = processExitWatch(await Promise.all(FAULT_PROJECTS.map(async (file) => ({ file, project: await testProject(file) }))));
    });

    afterAll(async () => {
      for (const file of FAULT_PROJECTS) await stopProcessors(file);
      if (rows.length === 0) return;
      const meta = {
        date: new Date().toISOString().slice(0, 10),
        sagasPerFault: SAGAS + DEPLOYMENTS,
        elapsedMs: Date.now() - suiteStart,
        replayDifferences: replayDifferenceCount,
        ...(options.description ? { description: `${options.description} The suite took ${((Date.now() - suiteStart) / 60_000).toFixed(1)} min.` } : {}),
      };
      const files = options.writeResults ? writeFaultResults(rows, meta, options.resultsSuffix) : [];
      console.log(`\n${faultTable(rows)}\n\nreplayed vs live: ${replayDifferenceCount ?? 'not compared'} sagas differ${files.length ? `; written to ${files.join(', ')}` : ''}\n`);
    });

    for (const fault of targets) {
      it(`${fault}: no saga lost, no effect applied twice, none stuck`, async () => {
        // Given a batch of sagas running, one model each, some made to fail at various steps; and deployments beside them
        const deployments = await startDeploymentBatch(DEPLOYMENTS, `fault_${fault.replace(/[-@]/g, '_')}`);
        const batch = await startBatch(SAGAS, `fault_${fault.replace(/[-@]/g, '_')}`, TRAINING_MS);
        everySaga.push(...batch.ids);
        const runningAtKill = await runningCount(batch);

        // When the part is killed with SIGKILL mid-run and started again at once — or, one part of
        // several of a replicated stack, left down while the others take its work over
        const problems: string[] = [];
        const outage = isClusterFault(fault) ? await killOne(fault) : undefined;
        const crash: { killedAt: number; healthyMs: number | null } = outage ? { killedAt: outage.killedAt, healthyMs: null } : await crashAndRestart(fault, RECOVERY_MS);
        const terminalAtKill = outage ? await terminalCount([...batch.ids, ...deployments.ids]) : 0;
        if (outage) problems.push(...(await outage.takenOver(RECOVERY_MS)));

        // Then the pipeline serves a new saga again (with a part still down: while it is down): every
        // group consumes, a probe saga completes (and no processor went down with the fault: every
        // wait stops at once if one exits)
        let recoveredMs: number | null = null;
        const recoverBy = Date.now() + RECOVERY_MS;
        try {
          for (const file of FAULT_PROJECTS) await waitForConsumerGroups(file, Math.max(1_000, recoverBy - Date.now()));
          const probe = await startProbeSaga(batch);
          everySaga.push(probe.sagaId);
          const status = (await waitForTerminal([probe.sagaId], Math.max(1_000, recoverBy - Date.now()), failIfProcessorExited)).get(probe.sagaId)!.status;
          if (status === 'Completed') recoveredMs = Date.now() - crash.killedAt;
          else problems.push(`the probe saga started after the restart ended ${status}`);
        } catch (err) {
          if (!(err instanceof TimeoutError || err instanceof ProcessorExitedError)) throw err;
          problems.push(`not recovered: ${err.message}`);
        }
        if (outage) {
          // And the batch went on ending while the part was down; then the part is started again
          const endedWhileDown = (await terminalCount([...batch.ids, ...deployments.ids])) - terminalAtKill;
          console.log(`${fault}: ${endedWhileDown} sagas of the batch ended while it was down (${((Date.now() - outage.killedAt) / 1000).toFixed(1)} s)`);
          if (endedWhileDown === 0) problems.push('no saga of the batch ended while the part was down');
          crash.healthyMs = await outage.restart();
        }

        // And every saga of the batch ends, with the outcome it was meant to have
        const { outcomes, stuck, abortedBy } = await waitForTerminalOrDeadline([...batch.ids, ...deployments.ids], SETTLE_MS, failIfProcessorExited);
        problems.push(...outcomeProblems(batch, outcomes), ...deploymentOutcomeProblems(deployments, outcomes));
        if (abortedBy) problems.push(`stopped waiting for the sagas: ${abortedBy}`);
        else {
          for (const file of FAULT_PROJECTS) {
            await waitForNoLag(file, NO_LAG_MS).catch((err) => {
              if (!(err instanceof TimeoutError)) throw err;
              problems.push(`processes still behind the log: ${err.message}`);
            });
          }
        }
        if (runningAtKill < SAGAS / 2) problems.push(`only ${runningAtKill} of ${SAGAS} sagas were running when the SIGKILL came: not mid-run`);

        // And the tables agree with the outcomes, and the log holds every committed outbox row, each step decided once
        const effects = await checkEffects(batch, outcomes);
        const deploymentEffects = await checkDeploymentEffects(deployments, outcomes);
        const delivery = await checkDelivery(batch, DELIVERY_CHECK_MS);
        // Anything stuck or not recovered: say what each stuck saga waits for, and where every connector stands.
        const stuckLines = await whereStuck(stuck);
        if (stuck.length > 0 || recoveredMs === null || delivery.lost.length > 0) problems.push(...(await deliveryLines()));
        const row: FaultRow = {
          fault,
          sagas: SAGAS + DEPLOYMENTS,
          runningAtKill,
          outcomes: countByState(outcomes),
          lost: [...delivery.lost, ...effects.lost, ...deploymentEffects.lost],
          duplicated: [...delivery.duplicated, ...effects.duplicated, ...deploymentEffects.duplicated],
          stuck: stuckLines,
          otherProblems: problems,
          healthyMs: crash.healthyMs,
          recoveredMs,
        };
        rows.push(row);
        console.log(faultTable([row]));
        const findings = [...row.lost, ...row.duplicated, ...row.stuck.map((l) => `stuck: ${l}`), ...row.otherProblems];
        if (findings.length > 0) console.log(findings.map((l) => `  - ${l}`).join('\n'));
        expect({ lost: row.lost, duplicated: row.duplicated, stuck: row.stuck, problems: row.otherProblems }).toEqual({ lost: [], duplicated: [], stuck: [], problems: [] });
      }, FAULT_TEST_TIMEOUT_MS);
    }

    it('the projection replayed from the log equals the live one for every saga of every fault', async () => {
      // Given every batch run through its fault (and its probe sagas)
      expect(everySaga.length).toBeGreaterThan(0);
      // When the log is folded from offset zero up to where the live projection stands
      const differences = await replayDifferences(everySaga);
      replayDifferenceCount = differences.length;
      // Then no saga's state differs
      expect(differences, JSON.stringify(differences).slice(0, 2000)).toEqual([]);
    });
  });
}
