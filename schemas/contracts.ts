/**
 * Loads the Avro contracts in schemas/ (the single source of truth for every message) into avsc
 * types, and builds the value schema of each topic: a union of the records it carries, registered
 * under the topic's `<topic>-value` subject (Confluent TopicNameStrategy).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import avsc from 'avsc';
import { ConfigError } from '../core/errors.ts';

export const SCHEMAS_DIR = dirname(fileURLToPath(import.meta.url));

type AvroSchema = Record<string, unknown>;

export interface Contracts {
  /** Every named type, by full name (namespace.Name). */
  registry: Record<string, avsc.Type>;
  /** The message records, by short name (the `eventType` header). */
  messages: Map<string, avsc.types.RecordType>;
  /** The raw JSON of shared types and messages, as written in the files. */
  sources: Map<string, AvroSchema>;
}

function readAvsc(dir: string): AvroSchema[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.avsc'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as AvroSchema);
}

/** The message records of a schemas folder (`messages/`, and `shared/` for the types they share). */
export function loadContracts(dir: string): Contracts {
  const registry: Record<string, avsc.Type> = {};
  const sources = new Map<string, AvroSchema>();
  if (!existsSync(join(dir, 'messages'))) throw new ConfigError(`${dir} has no messages/ folder: one .avsc file per message record goes there (shared types in shared/)`);
  // Shared types reference each other by name: parse them in dependency order by retrying.
  let pending = existsSync(join(dir, 'shared')) ? readAvsc(join(dir, 'shared')) : [];
  while (pending.length > 0) {
    const failed: AvroSchema[] = [];
    let lastError: unknown;
    for (const schema of pending) {
      try {
        // Parse against a copy: a failed attempt must not leave half-registered names behind.
        const attempt = { ...registry };
        avsc.Type.forSchema(schema as avsc.Schema, { registry: attempt });
        Object.assign(registry, attempt);
        sources.set(String(schema.name), schema);
      } catch (err) {
        failed.push(schema);
        lastError = err;
      }
    }
    if (failed.length === pending.length) throw new Error(`schemas/shared: cannot resolve ${failed.map((s) => s.name).join(', ')}: ${String(lastError)}`);
    pending = failed;
  }
  const messages = new Map<string, avsc.types.RecordType>();
  for (const schema of readAvsc(join(dir, 'messages'))) {
    const type = avsc.Type.forSchema(schema as avsc.Schema, { registry }) as avsc.types.RecordType;
    messages.set(String(schema.name), type);
    sources.set(String(schema.name), schema);
  }
  const contracts = { registry, messages, sources };
  return contracts;
}

export function messageRecord(contracts: Contracts, type: string): avsc.types.RecordType {
  const record = contracts.messages.get(type);
  if (!record) throw new Error(`no schema for message type ${type} in schemas/messages`);
  return record;
}

/**
 * The self-contained value schema of a topic: a union of its message records, each named type
 * defined at its first use (avsc writes later uses as references).
 */
export function topicValueSchema(contracts: Contracts, messageTypes: readonly string[]): unknown {
  const union = avsc.Type.forSchema(
    messageTypes.map((t) => messageRecord(contracts, t).name as string),
    { registry: contracts.registry },
  );
  return union.schema({ exportAttrs: true });
}

/** `dev.example.orders.OrderPlaced` → `OrderPlaced`: a message's type is its record's short name. */
export const shortName = (fullName: string): string => fullName.slice(fullName.lastIndexOf('.') + 1);

/**
 * The value of a topic union for one message. avsc represents a union of several records wrapped
 * (`{ "<namespace>.<Name>": record }`) and a union of one record as the record itself.
 */
export function toUnionValue(union: avsc.Type, type: string, payload: unknown): unknown {
  if (union.typeName !== 'union:wrapped') return payload;
  const branch = (union as avsc.types.WrappedUnionType).types.find((t) => t.name !== undefined && shortName(t.name) === type);
  if (!branch?.name) throw new Error(`message type ${type} is not a branch of this topic's union`);
  return { [branch.name]: payload };
}

/** The inverse of toUnionValue for a decoded value whose message type is `type`; undefined if it is another type. */
export function fromUnionValue(decoded: unknown, type: string): unknown {
  const value = decoded as Record<string, unknown> | null;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    // A wrapped union value: one key, a record's full name (a dotted name no message field has)
    if (keys.length === 1 && keys[0]!.includes('.')) return shortName(keys[0]!) === type ? value[keys[0]!] : undefined;
  }
  return value ?? undefined;
}
