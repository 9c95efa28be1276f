/**
 * Crash recovery, full run: 100 concurrent sagas, every processor — the saga-state projection and
 * watchdog included — killed with SIGKILL and restarted, one at a time.
 */
import { crashScenario } from '../support/crash.ts';

crashScenario(100, ['model-service', 'resource-service', 'training-service', 'audit-service', 'saga-state']);
