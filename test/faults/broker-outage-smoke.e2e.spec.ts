/**
 * The broker down for 150 s — longer than Connect gives a stopping task — for every `npm test`: the
 * health checks report the stalled connectors while Connect calls them RUNNING, and once the
 * delivery guard runs, every saga completes. The five-minute run with the guard on throughout is
 * `npm run test:faults` (test/faults/broker-outage.faults.spec.ts).
 */
import { brokerOutageScenario } from '../support/broker-outage.ts';

brokerOutageScenario({ outageMs: 150_000, sagas: 6, duringOutage: 2, guard: 'later' });
