/**
 * Crash recovery, full run: 100 concurrent training sagas, 25 deployments and a saga of HTTP
 * calls started each second, every process of both examples and of the HTTP saga — saga monitors included — killed with
 * SIGKILL and restarted, one at a time.
 */
import { crashScenario } from '../support/crash.ts';
import { DEPLOYMENT_PROCESSES, HTTP_PROCESSES, TRAINING_PROCESSES } from '../support/faults.ts';

crashScenario(100, [...TRAINING_PROCESSES, ...DEPLOYMENT_PROCESSES, ...HTTP_PROCESSES]);
