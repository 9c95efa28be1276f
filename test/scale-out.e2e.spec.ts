/**
 * Several instances of every process, short run for every `npm test`: 24 training sagas across two
 * instances of each process, one of each SIGKILLed mid-run (test/support/scale-out.ts). The full
 * run (100 sagas, its row in the fault table) is in `npm run test:faults`.
 */
import { scaleOutScenario } from './support/scale-out.ts';

scaleOutScenario({ sagas: 24, writeResults: false });
