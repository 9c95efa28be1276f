/**
 * Crash recovery, short run for every `npm test`: 20 sagas, every processor killed with SIGKILL
 * and restarted mid-run. The full fault run (100 sagas) is `npm run test:faults` (test/faults/).
 */
import { crashScenario } from './support/crash.ts';

crashScenario(20, ['model-service', 'resource-service', 'training-service', 'audit-service', 'saga-state']);
