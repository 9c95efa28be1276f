/**
 * Several instances of every process, full run: 100 training sagas across two instances of each
 * process of the training example, the second instance of each SIGKILLed mid-run; the row goes to
 * bench/results/faults-<date>-instances.json and .md (test/support/scale-out.ts).
 */
import { scaleOutScenario } from '../support/scale-out.ts';

scaleOutScenario({ sagas: 100, writeResults: true });
