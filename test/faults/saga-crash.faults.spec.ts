/**
 * Crash recovery, full run: 100 concurrent training sagas and 25 deployments, every process of both
 * examples — their saga monitors included — killed with SIGKILL and restarted, one at a time.
 */
import { crashScenario } from '../support/crash.ts';
import { DEPLOYMENT_PROCESSES, TRAINING_PROCESSES } from '../support/faults.ts';

crashScenario(100, [...TRAINING_PROCESSES, ...DEPLOYMENT_PROCESSES]);
