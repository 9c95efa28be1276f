/**
 * Crash recovery, short run for every `npm test`: 20 sagas, each participant killed with SIGKILL
 * and restarted mid-run. The full fault run (100 sagas, the saga-state processor killed too) is
 * `npm run test:faults` (test/faults/).
 */
import { crashScenario } from './support/crash.ts';

crashScenario(20, ['model-service', 'resource-service', 'training-service', 'audit-service']);
