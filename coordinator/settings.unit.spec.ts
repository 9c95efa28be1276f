import { describe, expect, it } from 'vitest';
import { DEFAULTS, loadConfig } from '../core/config.ts';

describe('two-phase commit settings', () => {
  it('defaults to the values in DEFAULTS and takes SAGALINE_2PC_* overrides', () => {
    expect(loadConfig({}).twoPhaseCommit).toEqual(DEFAULTS.twoPhaseCommit);
    const moved = loadConfig({ SAGALINE_2PC_PREPARE_TIMEOUT_MS: '1500', SAGALINE_2PC_RETRY_INTERVAL_MS: '50', SAGALINE_2PC_DECISION_TIMEOUT_MS: '9000' });
    expect(moved.twoPhaseCommit).toEqual({ prepareTimeoutMs: 1500, retryIntervalMs: 50, decisionTimeoutMs: 9000 });
  });

  it('refuses a timeout that is not a positive integer, naming the variable', () => {
    expect(() => loadConfig({ SAGALINE_2PC_PREPARE_TIMEOUT_MS: '0' })).toThrow(/SAGALINE_2PC_PREPARE_TIMEOUT_MS/);
    expect(() => loadConfig({ SAGALINE_2PC_DECISION_TIMEOUT_MS: 'soon' })).toThrow(/SAGALINE_2PC_DECISION_TIMEOUT_MS/);
  });
});
