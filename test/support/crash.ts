/**
 * Crash recovery scenario: while N training sagas, N/4 deployment sagas and sagas whose steps are
 * HTTP calls (one started each second) run concurrently, the processes named are killed with SIGKILL one at a time (no
 * shutdown, as a crash) and restarted. Every saga must reach a terminal state and the business
 * tables — and the HTTP services' records of the calls they got — must agree with the outcomes: no
 * effect lost, none applied twice.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { checkDelivery, checkEffects, FAULT_DEADLINES_ENV, outcomeProblems, replayDifferences, startBatch } from './batch.ts';
import { checkDeploymentEffects, deploymentOutcomeProblems, startDeploymentBatch } from './deployment-batch.ts';
import { crashAndRestart, FAULT_PROJECTS, type FaultTarget } from './faults.ts';
import { checkHttpEffects, httpOutcomeProblems, startHttpTrickle } from './http-batch.ts';
import { startServices, type TestServices } from './http-services.ts';
import { HTTP_CONFIG, startProcessors, stopProcessors, waitForConsumerGroups, waitForNoLag, waitForTerminal } from './saga.ts';

const PROJECTS = [...FAULT_PROJECTS, HTTP_CONFIG];

export function crashScenario(SAGAS: number, killed: readonly FaultTarget[]): void {
describe('crash recovery', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await startServices(['flights', 'hotels', 'cars']);
    await startProcessors(FAULT_DEADLINES_ENV, FAULT_PROJECTS[0]);
    await startProcessors({ DEPLOYMENT_DEADLINE_SCALE: '6' }, FAULT_PROJECTS[1]);
    await startProcessors({ SAGALINE_SERVICES: JSON.stringify(services.urls) }, HTTP_CONFIG);
  });

  afterAll(async () => {
    for (const file of PROJECTS) await stopProcessors(file);
    await services?.close();
  });

  it(`every one of ${SAGAS} training sagas and the deployments beside them reaches a terminal state with consistent business tables when ${killed.join(', ')} are SIGKILLed mid-run`, async () => {
    // Given the sagas started at once, one model each, some made to fail at various steps; and deployments beside them
    const batch = await startBatch(SAGAS, 'crash', (i) => 1_000 + (i % 5) * 1_500);
    const deployments = await startDeploymentBatch(Math.max(5, Math.round(SAGAS / 4)), 'crash');
    // and sagas of HTTP calls started one a second throughout, their hotel taking 1.5 s to answer, so
    // some are in flight at every kill and a hotel call is under way when its process is killed
    const trickle = startHttpTrickle(services, 'crash', 1_000, 1_500);

    // When each process in turn is killed with SIGKILL mid-run, then restarted
    for (const name of killed) {
      await crashAndRestart(name);
      for (const file of PROJECTS) await waitForConsumerGroups(file); // one fault at a time: the next kill comes once every group is back
    }
    const trips = await trickle.stop();

    // Then every saga ends Completed or Compensated, each made to fail compensated, most others completed
    const outcomes = await waitForTerminal([...batch.ids, ...deployments.ids, ...trips.ids], 300_000);
    expect(outcomeProblems(batch, outcomes)).toEqual([]);
    expect(deploymentOutcomeProblems(deployments, outcomes)).toEqual([]);
    expect(httpOutcomeProblems(trips, outcomes)).toEqual([]);
    for (const file of PROJECTS) await waitForNoLag(file, 120_000);

    // And the business tables agree with each outcome — nothing held, nothing done twice
    expect(await checkEffects(batch, outcomes)).toEqual({ lost: [], duplicated: [] });
    expect(await checkDeploymentEffects(deployments, outcomes)).toEqual({ lost: [], duplicated: [] });
    // And each HTTP service did each step once or undid it, by the one key the step's call carries
    const http = checkHttpEffects(trips, outcomes, services);
    process.stderr.write(`[crash] HTTP sagas: ${trips.ids.length} (${[...trips.trips.values()].filter((t) => t.posted).length} posted as data); calls repeating a key (answered from the service's record): ${http.repeats}\n`);
    expect({ lost: http.lost, duplicated: http.duplicated }).toEqual({ lost: [], duplicated: [] });
    // And every committed outbox row reached Kafka, each step decided once
    expect(await checkDelivery(batch)).toEqual({ lost: [], duplicated: [] });

    // And the projection rebuilt from the log equals the live one
    const differences = await replayDifferences(batch.ids);
    expect(differences, JSON.stringify(differences).slice(0, 2000)).toEqual([]);
  }, 600_000);
});
}
