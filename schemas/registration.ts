/**
 * Registers each topic's value schema under `<topic>-value` (Confluent TopicNameStrategy) with
 * BACKWARD compatibility, idempotently.
 *
 * The registry's BACKWARD rule lets a new schema read old data; it also accepts deleting a field,
 * which would break every consumer still reading that field. So before registering, each record
 * already on the subject must also be able to read data written with the new version (avsc's
 * resolver): no field removed unless it had a default, no type changed. See docs/schema-evolution.md.
 */
import type { RegistryEndpoint } from '../core/config.ts';
import avsc from 'avsc';
import { SchemaCompatibilityError } from '../core/errors.ts';
import type { CatalogueTopic } from '../topics/catalogue.ts';
import { topicValueSchema, type Contracts } from './contracts.ts';
import { latestSchema, lookupSchemaId, registerSchema, setCompatibility } from './registry-api.ts';

export const COMPATIBILITY = 'BACKWARD';

export function subjectFor(topic: string): string {
  return `${topic}-value`;
}

export interface SchemaRegistration {
  subject: string;
  id: number;
  change: 'registered' | 'unchanged';
}

const branches = (t: avsc.Type) => (t as unknown as { types?: avsc.Type[] }).types ?? [t];

/**
 * Checks every record that stays on the subject in both directions, record by record, so the
 * error names the field (the registry's own diff of a union only says which branch):
 * - new readers must read the log already written (what BACKWARD means);
 * - readers of the registered version must read what the new one writes (what BACKWARD allows to
 *   break by deleting a field).
 */
export function checkRecordEvolution(subject: string, registered: avsc.Type, proposed: avsc.Type): void {
  const proposedByName = new Map(branches(proposed).map((b) => [b.name, b]));
  for (const old of branches(registered)) {
    const next = old.name ? proposedByName.get(old.name) : undefined;
    if (!next) continue; // a message type leaving the topic: the registry's BACKWARD check decides
    try {
      next.createResolver(old);
    } catch (err) {
      const detail = (err as Error).message.replace(/^no matching field for default-less /, 'field added without a default: ');
      throw new SchemaCompatibilityError(subject, `${old.name}: ${detail} (new consumers could not read messages already in the log)`);
    }
    try {
      old.createResolver(next);
    } catch (err) {
      const detail = (err as Error).message.replace(/^no matching field for default-less /, 'field removed without a default: ');
      throw new SchemaCompatibilityError(subject, `${old.name}: ${detail} (consumers still on the registered version could not read new messages)`);
    }
  }
}

/** Registers one topic's value schema given as a JSON string (the topic's union, or any schema in tests). */
export async function registerSubjectSchema(registry: RegistryEndpoint | string, subject: string, schema: string): Promise<SchemaRegistration> {
  const existing = await lookupSchemaId(registry, subject, schema);
  if (existing !== undefined) return { subject, id: existing, change: 'unchanged' };
  const latest = await latestSchema(registry, subject);
  if (latest) {
    const parse = (s: string) => avsc.Type.forSchema(JSON.parse(s) as avsc.Schema);
    checkRecordEvolution(subject, parse(latest.schema), parse(schema));
  }
  await setCompatibility(registry, subject, COMPATIBILITY);
  const result = await registerSchema(registry, subject, schema);
  if ('conflict' in result) throw new SchemaCompatibilityError(subject, result.conflict.replace(/^.*RuleViolationException: /, ''));
  return { subject, id: result.id, change: 'registered' };
}

export function registerTopicSchema(registry: RegistryEndpoint | string, contracts: Contracts, topic: Pick<CatalogueTopic, 'name' | 'messages'>): Promise<SchemaRegistration> {
  return registerSubjectSchema(registry, subjectFor(topic.name), JSON.stringify(topicValueSchema(contracts, topic.messages)));
}
