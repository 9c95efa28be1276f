/**
 * An instance's history read back from the Kafka log (never from the projection): every message in
 * causal order — each after the message that caused it, otherwise by broker time — with where it
 * sits in the log, who emitted it, and the state the saga's fold derives from it.
 */
import type { Config } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import type { Project } from '../processors/engine/project.ts';
import { SAGA_STARTED, type Versions } from '../processors/engine/versions.ts';
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import { definitionOfInstance, roleOf, type SagaDefinition } from '../processors/saga/define-saga.ts';
import { ENGINE_MESSAGES, type InstanceState } from '../processors/saga/instance.ts';
import { foldLog } from './fold.ts';
import { readLog } from './log-reader.ts';
import { historySources } from './sources.ts';

export interface AuditEvent {
  at: string;
  topic: string;
  partition: number;
  offset: string;
  type: string;
  service: string;
  messageId: string;
  causationId: string;
  correlationId: string;
  payload: unknown;
}

export interface AuditTimeline {
  sagaId: string;
  saga: string;
  version: number | null;
  events: AuditEvent[];
  /** The instance's state folded from exactly these events (null if they hold no start). */
  state: InstanceState | null;
}

export class SagaNotInLogError extends SagalineError {
  constructor(sagaId: string) {
    super('SAGA_NOT_FOUND', `no message of saga ${sagaId} in the event log`);
  }
}

/** The monitor writes deadlines; the requester the start (and its version); a step's owner its messages and its compensation's. */
export const MONITOR = 'saga-monitor';
export const REQUESTER = 'requester';

/** Who wrote a message to its outbox, from the definition. */
export function emitterOf(definition: SagaDefinition, type: string, payload: unknown): string {
  if (type === SAGA_STARTED || type === definition.startedBy) return REQUESTER;
  if (type === ENGINE_MESSAGES.stepTimedOut) return MONITOR;
  const named = (payload as { step?: unknown } | undefined)?.step;
  const role = roleOf(definition, type, typeof named === 'string' ? named : undefined);
  const step = type === ENGINE_MESSAGES.compensationFailed || type === ENGINE_MESSAGES.stepAttemptFailed ? (payload as { step?: string } | undefined)?.step : role && role.kind !== 'start' ? role.step : undefined;
  return definition.steps.find((s) => s.name === step)?.owner ?? 'unknown';
}

const logPosition = (m: DecodedMessage) => [m.kafka.timestamp, m.kafka.topic, m.kafka.partition, BigInt(m.kafka.offset)] as const;

function earlier(a: DecodedMessage, b: DecodedMessage): boolean {
  const pa = logPosition(a);
  const pb = logPosition(b);
  for (let i = 0; i < pa.length; i++) if (pa[i] !== pb[i]) return (pa[i] as number | string | bigint) < (pb[i] as number | string | bigint);
  return false;
}

/**
 * Orders messages so that each comes after the one that caused it (its causationId), and otherwise
 * by broker timestamp, then topic, partition, offset. Messages whose cause is not among them (the
 * request, a deadline) start chains. Deterministic for a given set, whatever order it came in.
 */
export function causalOrder(messages: readonly DecodedMessage[]): DecodedMessage[] {
  const byId = new Map<string, DecodedMessage>();
  for (const m of [...messages].sort((a, b) => (earlier(a, b) ? -1 : earlier(b, a) ? 1 : 0))) {
    if (!byId.has(m.metadata.messageId)) byId.set(m.metadata.messageId, m);
  }
  const children = new Map<DecodedMessage, DecodedMessage[]>();
  const ready: DecodedMessage[] = [];
  for (const m of messages) {
    const cause = byId.get(m.metadata.causationId);
    if (cause && cause !== m && cause.metadata.messageId !== m.metadata.messageId) {
      children.set(cause, [...(children.get(cause) ?? []), m]);
    } else {
      ready.push(m);
    }
  }
  const ordered: DecodedMessage[] = [];
  while (ready.length > 0) {
    let next = 0;
    for (let i = 1; i < ready.length; i++) if (earlier(ready[i] as DecodedMessage, ready[next] as DecodedMessage)) next = i;
    const [m] = ready.splice(next, 1) as [DecodedMessage];
    ordered.push(m);
    ready.push(...(children.get(m) ?? []));
  }
  // A causation cycle cannot come from the processors; if the log holds one, keep those messages last, by position.
  const seen = new Set(ordered);
  ordered.push(...messages.filter((m) => !seen.has(m)).sort((a, b) => (earlier(a, b) ? -1 : 1)));
  return ordered;
}

/** The timeline of one instance from its messages (any order). Pure. */
export function timelineOf(versions: Versions<SagaDefinition>, sagaId: string, messages: readonly DecodedMessage[]): AuditTimeline {
  const ordered = causalOrder(messages);
  // The fold goes in log order (as the projection reads it); the timeline shows causal order.
  const inLogOrder = [...messages].sort((a, b) => (earlier(a, b) ? -1 : earlier(b, a) ? 1 : 0));
  const folded = foldLog(versions, inLogOrder).get(sagaId);
  const declared = versions.of(folded?.version ?? versions.latest.version) ?? versions.latest;
  // A posted saga's steps are its own: who called which service comes from its start message.
  let definition = declared;
  if (folded?.state) {
    try {
      definition = definitionOfInstance(declared, folded.state.start.payload);
    } catch {
      definition = declared;
    }
  }
  return {
    sagaId,
    saga: versions.name,
    version: folded?.version ?? null,
    events: ordered.map((m) => ({
      at: new Date(m.kafka.timestamp).toISOString(),
      topic: m.kafka.topic,
      partition: m.kafka.partition,
      offset: m.kafka.offset,
      type: m.type,
      service: emitterOf(definition, m.type, m.payload),
      messageId: m.metadata.messageId,
      causationId: m.metadata.causationId,
      correlationId: m.metadata.correlationId,
      payload: m.payload,
    })),
    state: folded?.state ?? null,
  };
}

/** Reads the instance's partition of each of the project's saga topics and returns its timeline. */
export async function auditInstance(config: Config, project: Project, sagaId: string, timeoutMs = 120_000): Promise<AuditTimeline> {
  const sources = historySources(project);
  const messages: DecodedMessage[] = [];
  await readLog(config, { topics: [...sources.sagas.keys()], catalogue: sources.catalogue, sagaId, timeoutMs, onMessage: (m) => void messages.push(m) });
  if (messages.length === 0) throw new SagaNotInLogError(sagaId);
  // An id is one instance of one saga: the topic its messages are on says which.
  const topic = messages[0]!.kafka.topic;
  return timelineOf(sources.sagas.get(topic)!, sagaId, messages.filter((m) => m.kafka.topic === topic));
}
