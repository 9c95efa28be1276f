import { describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { PROCESSOR_NAMES, processorMetricsPort } from './index.ts';

describe("processors' metrics ports", () => {
  it('gives processor i the port base + 1 + i', () => {
    const config = loadConfig({ SAGALINE_METRICS_PORT_BASE: '59100' });
    expect(PROCESSOR_NAMES.map((name) => processorMetricsPort(config, name))).toEqual([59101, 59102, 59103, 59104, 59105]);
  });

  it('refuses a base that leaves a processor no port', () => {
    const config = loadConfig({ SAGALINE_METRICS_PORT_BASE: '65533' });
    expect(processorMetricsPort(config, 'model-service')).toBe(65534);
    expect(() => processorMetricsPort(config, 'saga-state')).toThrow(ConfigError);
    expect(() => processorMetricsPort(config, 'saga-state')).toThrow(/SAGALINE_METRICS_PORT_BASE 65533 leaves no port for saga-state's metrics; choose a base up to 65530/);
  });
});
