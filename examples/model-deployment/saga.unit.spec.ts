/** The deployment saga's decisions, in memory (no stack): the given/when/then kit on its definition. */
import { describe, expect, it } from 'vitest';
import { sagaSpecification } from '../../processors/saga/testing.ts';
import { deploymentSaga } from './saga.ts';

const saga = deploymentSaga();
const validated = [{ type: 'DeploymentRequested' }, { type: 'ModelValidated' }];

describe('the model deployment saga', () => {
  it('given the model is validated, then provisioning and registering run at once', () => {
    sagaSpecification(saga).given([{ type: 'DeploymentRequested' }]).when({ type: 'ModelValidated' }).then({
      status: 'Running',
      commands: [{ kind: 'run', step: 'PROVISION', owner: 'model-serving' }, { kind: 'run', step: 'REGISTER', owner: 'model-catalogue' }],
    });
  });

  it('given one branch done, when the other completes, then the smoke test runs (the join)', () => {
    sagaSpecification(saga).given([...validated, { type: 'EndpointRegistered' }]).when({ type: 'EndpointProvisioned' }).then({
      commands: [{ kind: 'run', step: 'SMOKE_TEST', owner: 'model-serving' }],
    });
  });

  it('given the endpoint is provisioned, when registering fails, then the endpoint is torn down', () => {
    sagaSpecification(saga).given([...validated, { type: 'EndpointProvisioned' }]).when({ type: 'RegistrationFailed', reason: 'catalogue read-only' }).then({
      status: 'Compensating',
      commands: [{ kind: 'compensate', step: 'PROVISION', owner: 'model-serving' }],
    });
  });

  it('given provisioning still runs, when registering fails, then nothing is undone until provisioning answers, and then it is', () => {
    sagaSpecification(saga).given([...validated]).when({ type: 'RegistrationFailed', reason: 'no' }).then({ status: 'Compensating', commands: [] });
    sagaSpecification(saga).given([...validated, { type: 'RegistrationFailed', reason: 'no' }]).when({ type: 'EndpointProvisioned' }).then({
      commands: [{ kind: 'compensate', step: 'PROVISION', owner: 'model-serving' }],
    });
  });

  it('given both branches done (register last), when the smoke test fails, then the last one done is undone first', () => {
    sagaSpecification(saga).given([...validated, { type: 'EndpointProvisioned' }, { type: 'EndpointRegistered' }]).when({ type: 'SmokeTestFailed', reason: 'timeouts' }).then({
      commands: [{ kind: 'compensate', step: 'REGISTER', owner: 'model-catalogue' }],
    });
    sagaSpecification(saga)
      .given([...validated, { type: 'EndpointProvisioned' }, { type: 'EndpointRegistered' }, { type: 'SmokeTestFailed', reason: 'timeouts' }])
      .when({ type: 'EndpointUnregistered' })
      .then({ commands: [{ kind: 'compensate', step: 'PROVISION', owner: 'model-serving' }] });
  });

  it('given traffic was switched (the pivot), when the announcement fails, then nothing is undone and the saga is parked', () => {
    const done = [...validated, { type: 'EndpointProvisioned' }, { type: 'EndpointRegistered' }, { type: 'SmokeTestPassed' }, { type: 'TrafficSwitched' }];
    const state = sagaSpecification(saga).given(done).when({ type: 'AnnouncementFailed', reason: 'mail down' }).then({ status: 'Parked', commands: [] });
    expect(state?.reason).toContain('ANNOUNCE');
  });
});
