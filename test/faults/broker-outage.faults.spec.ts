/**
 * The broker down for five minutes under load, the delivery guard running as it does by default:
 * every saga completes once the broker is back, nothing lost, no manual step. (Scenario and checks:
 * test/support/broker-outage.ts.)
 */
import { brokerOutageScenario } from '../support/broker-outage.ts';

brokerOutageScenario({ outageMs: 300_000, sagas: 20, duringOutage: 5 });
