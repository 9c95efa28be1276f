/**
 * Fault injection, short run for every `npm test`: Postgres (with every process it forked) killed
 * with SIGKILL and restarted while 8 sagas run, checked as the full run checks every fault. The
 * full run (every stack component and processor, 40 sagas each) is `npm run test:faults`.
 */
import { stackFaultSuite } from '../support/fault-suite.ts';

stackFaultSuite({ sagas: 8, targets: ['postgres'], writeResults: false });
