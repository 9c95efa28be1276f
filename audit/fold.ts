/**
 * Folding a saga's log into its instances, as the monitor projects them — the same inbox rule
 * (each message id once), the same versions (an instance under the version its SagaStarted
 * recorded), the same order (its partition's) — but in memory, from messages already read. Pure.
 */
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import type { SagaDefinition } from '../processors/saga/define-saga.ts';
import type { InstanceState } from '../processors/saga/instance.ts';
import { instanceMessage } from '../processors/engine/tables.ts';
import { evolveVersioned, SAGA_STARTED, UnknownVersionError, type Versions } from '../processors/engine/versions.ts';

export interface FoldedInstance {
  state: InstanceState | undefined;
  version: number | undefined;
  /** Why the fold stopped early (a version the definitions given do not have). */
  stoppedBy?: string;
}

/** Folds one more message into the instances (mutates `into`); a message id seen before is skipped, as the monitor's inbox does. */
export function foldMessage(versions: Versions<SagaDefinition>, into: Map<string, FoldedInstance>, seen: Set<string>, message: DecodedMessage): void {
  if (seen.has(message.metadata.messageId)) return;
  seen.add(message.metadata.messageId);
  const sagaId = message.metadata.sagaId;
  const current = into.get(sagaId) ?? { state: undefined, version: undefined };
  if (current.stoppedBy) return;
  try {
    const { evolution, version } = evolveVersioned(versions, current.state, current.state ? undefined : current.version, instanceMessage(message));
    // A SagaStarted only records the version; anything else folds into the state.
    if ((message.type as string) === SAGA_STARTED && !current.state) into.set(sagaId, { state: undefined, version });
    else if (evolution.state) into.set(sagaId, { state: evolution.state, version: evolution.state.version });
  } catch (err) {
    if (!(err instanceof UnknownVersionError)) throw err;
    into.set(sagaId, { ...current, stoppedBy: err.message });
  }
}

/** Instances by saga name, then by id: ids are meant to be unique across sagas, but a log may hold one id in two sagas. */
export type FoldedBySaga = Map<string, Map<string, FoldedInstance>>;

/** Folds one more message into the instances of its saga (`versions`): foldMessage, per saga. */
export function foldIntoSaga(versions: Versions<SagaDefinition>, into: FoldedBySaga, seen: Set<string>, message: DecodedMessage): void {
  let instances = into.get(versions.name);
  if (!instances) into.set(versions.name, (instances = new Map()));
  foldMessage(versions, instances, seen, message);
}

/**
 * The instances by id, for comparing with the live projection (keyed by id), and the ids the log
 * gives to instances of more than one saga: those are not compared but reported, naming the sagas.
 */
export function byId(folded: FoldedBySaga): { instances: Map<string, FoldedInstance>; shared: StateDifference[] } {
  const holders = new Map<string, string[]>();
  for (const [saga, instances] of folded) for (const [id, f] of instances) if (f.state || f.stoppedBy) holders.set(id, [...(holders.get(id) ?? []), saga]);
  const instances = new Map<string, FoldedInstance>();
  const shared: StateDifference[] = [];
  for (const [id, sagas] of holders) {
    if (sagas.length > 1) shared.push({ sagaId: id, differences: [`the log holds instances of ${[...sagas].sort().join(' and ')} under this id (a saga id must be unique across sagas)`] });
    else instances.set(id, folded.get(sagas[0] as string)!.get(id) as FoldedInstance);
  }
  return { instances, shared };
}

/** Every instance's state from its messages, in the order given. */
export function foldLog(versions: Versions<SagaDefinition>, messages: readonly DecodedMessage[]): Map<string, FoldedInstance> {
  const instances = new Map<string, FoldedInstance>();
  const seen = new Set<string>();
  for (const m of messages) foldMessage(versions, instances, seen, m);
  return instances;
}

export interface StateDifference {
  sagaId: string;
  /** Dotted paths whose values differ, or "missing in <side>". */
  differences: string[];
}

function diff(a: unknown, b: unknown, path: string, out: string[]): void {
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  // Element by element: a list of objects read back from jsonb has its keys in jsonb's order.
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => diff(x, b[i], `${path}[${i}]`, out));
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out);
    return;
  }
  out.push(`${path}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`);
}

/** Every instance whose state differs between two sides (pure: the states are given). */
export function compareStates(left: ReadonlyMap<string, unknown>, right: ReadonlyMap<string, unknown>, leftName: string, rightName: string): StateDifference[] {
  const result: StateDifference[] = [];
  for (const sagaId of [...new Set([...left.keys(), ...right.keys()])].sort()) {
    const differences: string[] = [];
    if (!left.has(sagaId)) differences.push(`missing in ${leftName}`);
    else if (!right.has(sagaId)) differences.push(`missing in ${rightName}`);
    else diff(left.get(sagaId), right.get(sagaId), '', differences);
    if (differences.length) result.push({ sagaId, differences });
  }
  return result;
}
