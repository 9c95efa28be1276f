/**
 * Schema evolution against the real registry: a subject registered with BACKWARD compatibility
 * accepts an optional field with a default, and refuses — naming the subject and the
 * incompatibility — a field removed without a default or a field whose type changed.
 */
import { describe, expect, it } from 'vitest';
import { SchemaCompatibilityError } from '../core/errors.ts';
import { registerSubjectSchema } from '../schemas/registration.ts';
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
  it('registers with BACKWARD compatibility, idempotently', async () => {
    const { subject, id } = await registeredSubject();
    expect(await compatibilityOf(subject)).toBe('BACKWARD');
    expect(await registerSubjectSchema(config.schemaRegistryUrl, subject, v1)).toEqual({ subject, id, change: 'unchanged' });
  });

  it('accepts an optional field with a default', async () => {
    const { subject, id } = await registeredSubject();
    const v2 = record([{ name: 'reason', type: 'string' }, { name: 'attempts', type: 'int' }, { name: 'note', type: ['null', 'string'], default: null }]);
    const second = await registerSubjectSchema(config.schemaRegistryUrl, subject, v2);
    expect(second.change).toBe('registered');
    expect(second.id).not.toBe(id);
  });

  it('refuses a field removed without a default, naming the subject and the field', async () => {
    const { subject } = await registeredSubject();
    const withoutAttempts = record([{ name: 'reason', type: 'string' }]);
    const attempt = registerSubjectSchema(config.schemaRegistryUrl, subject, withoutAttempts);
    await expect(attempt).rejects.toBeInstanceOf(SchemaCompatibilityError);
    await expect(attempt).rejects.toThrow(`schema for subject ${subject} is incompatible: dev.sagaline.test.Evolving: field removed without a default: dev.sagaline.test.Evolving.attempts (consumers still on the registered version could not read new messages)`);
  });

  it('refuses a changed field type, naming the subject and the field', async () => {
    const { subject } = await registeredSubject();
    const attemptsAsString = record([{ name: 'reason', type: 'string' }, { name: 'attempts', type: 'string' }]);
    const attempt = registerSubjectSchema(config.schemaRegistryUrl, subject, attemptsAsString);
    await expect(attempt).rejects.toBeInstanceOf(SchemaCompatibilityError);
    await expect(attempt).rejects.toThrow(`schema for subject ${subject} is incompatible: dev.sagaline.test.Evolving: cannot read "int" as "string" (new consumers could not read messages already in the log)`);
  });

  it('refuses a required field added without a default, naming the field', async () => {
    const { subject } = await registeredSubject();
    const withRequired = record([{ name: 'reason', type: 'string' }, { name: 'attempts', type: 'int' }, { name: 'owner', type: 'string' }]);
    const attempt = registerSubjectSchema(config.schemaRegistryUrl, subject, withRequired);
    await expect(attempt).rejects.toBeInstanceOf(SchemaCompatibilityError);
    await expect(attempt).rejects.toThrow(`schema for subject ${subject} is incompatible: dev.sagaline.test.Evolving: field added without a default: dev.sagaline.test.Evolving.owner (new consumers could not read messages already in the log)`);
  });

  it("passes the registry's own refusal on, naming the subject (a message type dropped from a topic)", async () => {
    const { subject } = await registeredSubject();
    const other = JSON.stringify([{ type: 'record', name: 'Other', namespace: 'dev.sagaline.test', fields: [{ name: 'sagaId', type: 'string' }] }]);
    const attempt = registerSubjectSchema(config.schemaRegistryUrl, subject, other);
    await expect(attempt).rejects.toBeInstanceOf(SchemaCompatibilityError);
    await expect(attempt).rejects.toThrow(new RegExp(`^schema for subject ${subject} is incompatible: Incompatible artifact: ${subject}.*reader union lacking writer type`));
  });
});
