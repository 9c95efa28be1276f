/**
 * Crash recovery, short run for every `npm test`: 20 training sagas and 5 deployments, every process
 * of both examples killed with SIGKILL and restarted mid-run. The full fault run (100 sagas) is
 * `npm run test:faults` (test/faults/).
 */
import { crashScenario } from './support/crash.ts';
import { DEPLOYMENT_PROCESSES, TRAINING_PROCESSES } from './support/faults.ts';

crashScenario(20, [...TRAINING_PROCESSES, ...DEPLOYMENT_PROCESSES]);
