/**
 * The model deployment saga, as data: validate the model → in parallel, provision a serving
 * endpoint and register it in the model catalogue → smoke-test the endpoint → switch traffic to it
 * (the pivot: the point of no return) → announce. Before the pivot a failure undoes what was done,
 * a parallel branch included, last-done first; after it, a step is only retried forward, and one
 * that keeps failing parks the saga for an operator.
 */
import { defineSaga, type SagaDefinition } from '../../index.ts';

export const DEPLOYMENT_SAGA = 'model-deployment';

/** `scale` multiplies every deadline (DEPLOYMENT_DEADLINE_SCALE in the config module). */
export function deploymentSaga(scale = 1): SagaDefinition {
  const ms = (base: number) => Math.round(base * scale);
  return defineSaga({
    name: DEPLOYMENT_SAGA,
    version: 1,
    startedBy: 'DeploymentRequested',
    steps: {
      VALIDATE: { owner: 'model-registry', succeeded: 'ModelValidated', failed: 'ValidationFailed', deadlineMs: ms(10_000) },
      PROVISION: { owner: 'model-serving', after: ['VALIDATE'], succeeded: 'EndpointProvisioned', failed: 'ProvisioningFailed', compensatedBy: 'EndpointDeprovisioned', retry: { limit: 60 }, deadlineMs: ms(30_000) },
      REGISTER: { owner: 'model-catalogue', after: ['VALIDATE'], succeeded: 'EndpointRegistered', failed: 'RegistrationFailed', compensatedBy: 'EndpointUnregistered', retry: { limit: 60 }, deadlineMs: ms(30_000) },
      SMOKE_TEST: { owner: 'model-serving', after: ['PROVISION', 'REGISTER'], succeeded: 'SmokeTestPassed', failed: 'SmokeTestFailed', deadlineMs: ms(30_000) },
      SWITCH_TRAFFIC: { owner: 'model-serving', after: ['SMOKE_TEST'], pivot: true, succeeded: 'TrafficSwitched', failed: 'TrafficSwitchFailed', retry: { limit: 5 }, deadlineMs: ms(30_000) },
      ANNOUNCE: { owner: 'announcements', after: ['SWITCH_TRAFFIC'], succeeded: 'DeploymentAnnounced', failed: 'AnnouncementFailed', retry: { limit: 3 }, deadlineMs: ms(30_000) },
    },
  });
}
