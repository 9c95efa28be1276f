/**
 * Schema evolution against the real registry: a subject registered with BACKWARD compatibility
 * accepts an optional field with a default, and refuses — naming the subject and the
 * incompatibility — a field removed without a default or a field whose type changed. A saga
 * topic's subject, derived from its definition, takes the messages a new version adds.
 */
import { describe, expect, it } from 'vitest';
import { SchemaCompatibilityError } from '../core/errors.ts';
import { registerSubjectSchema, registerTopicSchema } from '../schemas/registration.ts';
import { sagaContracts } from '../schemas/saga-contracts.ts';
import { sagaTopic } from '../topics/derived.ts';
import { ORDER_SCHEMAS, orderFulfilment, orderFulfilmentV2 } from './fixtures/order-saga/saga.ts';
import { config, uniqueName } from './support/fixtures.ts';

const record = (fields: object[]) =>
  JSON.stringify([{ type: 'record', name: 'Evolving', namespace: 'dev.sagaline.test', fields: [{ name: 'sagaId', type: 'string' }, ...fields] }]);

const v1 = record([{ name: 'reason', type: 'string' }, { name: 'attempts', type: 'int' }]);

async function registeredSubject(): Promise<{ subject: string; id: number }> {
  const subject = `${uniqueName('evolution')}-value`;
  const first = await registerSubjectSchema(config.schemaRegistryUrl, subject, v1);
  expect(first.change).toBe('registered');
  return { subject, id: first.id };
}

async function compatibilityOf(subject: string): Promise<string> {
  const res = await fetch(`${config.schemaRegistryUrl}/config/${subject}`);
  return ((await res.json()) as { compatibilityLevel: string }).compatibilityLevel;
}

describe('schema evolution', () => {
  it('given a new subject, when its schema is registered twice, then it has BACKWARD compatibility and the second time changes nothing', async () => {
    const { subject, id } = await registeredSubject();
    expect(await compatibilityOf(subject)).toBe('BACKWARD');
    expect(await registerSubjectSchema(config.schemaRegistryUrl, subject, v1)).toEqual({ subject, id, change: 'unchanged' });
  });

  it('given a registered record, when an optional field with a default is added, then the new version is registered', async () => {
    const { subject, id } = await registeredSubject();
    const v2 = record([{ name: 'reason', type: 'string' }, { name: 'attempts', type: 'int' }, { name: 'note', type: ['null', 'string'], default: null }]);
    const second = await registerSubjectSchema(config.schemaRegistryUrl, subject, v2);
    expect(second.change).toBe('registered');
    expect(second.id).not.toBe(id);
  });

  it('given a registered record, when a field without a default is removed, then it is refused naming the subject and the field', async () => {
    const { subject } = await registeredSubject();
    const withoutAttempts = record([{ name: 'reason', type: 'string' }]);
    const attempt = registerSubjectSchema(config.schemaRegistryUrl, subject, withoutAttempts);
    await expect(attempt).rejects.toBeInstanceOf(SchemaCompatibilityError);
    await expect(attempt).rejects.toThrow(`schema for subject ${subject} is incompatible: dev.sagaline.test.Evolving: field removed without a default: dev.sagaline.test.Evolving.attempts (consumers still on the registered version could not read new messages)`);
  });

  it('given a registered record, when a field changes type, then it is refused naming the subject and the field', async () => {
    const { subject } = await registeredSubject();
    const attemptsAsString = record([{ name: 'reason', type: 'string' }, { name: 'attempts', type: 'string' }]);
    const attempt = registerSubjectSchema(config.schemaRegistryUrl, subject, attemptsAsString);
    await expect(attempt).rejects.toBeInstanceOf(SchemaCompatibilityError);
    await expect(attempt).rejects.toThrow(`schema for subject ${subject} is incompatible: dev.sagaline.test.Evolving: cannot read "int" as "string" (new consumers could not read messages already in the log)`);
  });

  it('given a registered record, when a required field is added without a default, then it is refused naming the field', async () => {
    const { subject } = await registeredSubject();
    const withRequired = record([{ name: 'reason', type: 'string' }, { name: 'attempts', type: 'int' }, { name: 'owner', type: 'string' }]);
    const attempt = registerSubjectSchema(config.schemaRegistryUrl, subject, withRequired);
    await expect(attempt).rejects.toBeInstanceOf(SchemaCompatibilityError);
    await expect(attempt).rejects.toThrow(`schema for subject ${subject} is incompatible: dev.sagaline.test.Evolving: field added without a default: dev.sagaline.test.Evolving.owner (new consumers could not read messages already in the log)`);
  });

  it("given a topic's union, when a message type is dropped from it, then the registry's own refusal is passed on naming the subject", async () => {
    const { subject } = await registeredSubject();
    const other = JSON.stringify([{ type: 'record', name: 'Other', namespace: 'dev.sagaline.test', fields: [{ name: 'sagaId', type: 'string' }] }]);
    const attempt = registerSubjectSchema(config.schemaRegistryUrl, subject, other);
    await expect(attempt).rejects.toBeInstanceOf(SchemaCompatibilityError);
    await expect(attempt).rejects.toThrow(new RegExp(`^schema for subject ${subject} is incompatible: Incompatible artifact: ${subject}.*reader union lacking writer type`));
  });

  it("given a saga topic registered for version 1, when version 2 adds a step, then the union of both versions is registered as a new version of the topic's subject", async () => {
    // Given the topic of the order fixture's version 1 (under a name of this test's own), registered
    const contracts = sagaContracts(ORDER_SCHEMAS, [orderFulfilment, orderFulfilmentV2]);
    const name = uniqueName('sagaline.evolving-orders');
    const v1 = { ...sagaTopic(orderFulfilment), name };
    expect((await registerTopicSchema(config.schemaRegistryUrl, contracts, v1)).change).toBe('registered');

    // When the topic of both versions is registered (v2's new step brings two new messages)
    const both = { ...sagaTopic([orderFulfilment, orderFulfilmentV2]), name };
    expect(both.messages).toEqual(expect.arrayContaining([...v1.messages, 'CustomerNotified', 'NotificationFailed']));
    const evolved = await registerTopicSchema(config.schemaRegistryUrl, contracts, both);

    // Then it is a new version of the same subject, and registering it again changes nothing
    expect(evolved).toMatchObject({ subject: `${name}-value`, change: 'registered' });
    expect(await registerTopicSchema(config.schemaRegistryUrl, contracts, both)).toEqual({ ...evolved, change: 'unchanged' });
  });
});
