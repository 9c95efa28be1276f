/**
 * Crash recovery, short run for every `npm test`: 20 training sagas, 5 deployments and a saga of HTTP
 * calls started each second, every process of the two examples and of the HTTP saga killed with SIGKILL and
 * restarted mid-run. The full fault run (100 sagas) is
 * `npm run test:faults` (test/faults/).
 */
import { crashScenario } from './support/crash.ts';
import { DEPLOYMENT_PROCESSES, HTTP_PROCESSES, TRAINING_PROCESSES } from './support/faults.ts';

crashScenario(20, [...TRAINING_PROCESSES, ...DEPLOYMENT_PROCESSES, ...HTTP_PROCESSES]);
