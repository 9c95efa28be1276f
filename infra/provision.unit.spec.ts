import { describe, expect, it } from 'vitest';
import { checkRoutes, ProvisionError } from './provision.ts';

describe('checkRoutes', () => {
  it('accepts connectors that route only to catalogued topics', () => {
    expect(() => checkRoutes([{ name: 'model-service-outbox', database: 'm', aggregateTypes: ['model-events', 'saga-events'], config: {} }])).not.toThrow();
  });

  it('refuses a connector that could route to a topic the catalogue lacks, naming both', () => {
    const definitions = [{ name: 'rogue-outbox', database: 'r', aggregateTypes: ['model-events', 'rogue-events'], config: {} }];
    expect(() => checkRoutes(definitions)).toThrow(ProvisionError);
    expect(() => checkRoutes(definitions)).toThrow('connector rogue-outbox could route aggregatetype "rogue-events" to topic sagaline.rogue-events, which the topic catalogue (topics/catalogue.ts) lacks');
  });
});
