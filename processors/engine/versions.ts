/**
 * Definition versions side by side. An instance runs under the version it started with, to its
 * end: the engine writes `SagaStarted { saga, version }` just before the start message, in the same
 * transaction, and every runner folds the instance with that version. A start message that comes
 * without one (written by another producer) runs under the latest version the runner knows.
 * Pure.
 */
import { ConfigError, SagalineError } from '../../core/errors.ts';
import type { SagaStartedPayload } from '../../schemas/saga-contracts.ts';
import { definitionOfInstance, SagaDefinitionError, type SagaDefinition } from '../saga/define-saga.ts';
import { evolveInstance, type Evolution, type InstanceMessage, type InstanceState } from '../saga/instance.ts';

export const SAGA_STARTED = 'SagaStarted';

export interface Versions<T> {
  readonly name: string;
  readonly latest: T;
  of(version: number): T | undefined;
  readonly all: readonly T[];
}

/** The versions of one saga (each once), newest last; `definitionOf` finds each one's definition. */
export function versionsOf<T>(items: readonly T[], definitionOf: (item: T) => SagaDefinition): Versions<T> {
  if (items.length === 0) throw new ConfigError('no saga definition given');
  const name = definitionOf(items[0] as T).name;
  const byVersion = new Map<number, T>();
  for (const item of items) {
    const d = definitionOf(item);
    if (d.name !== name) throw new ConfigError(`versions of one saga must share its name: got ${name} and ${d.name}`);
    if (byVersion.has(d.version)) throw new ConfigError(`saga ${name} v${d.version} is given twice`);
    byVersion.set(d.version, item);
  }
  const sorted = [...byVersion.entries()].sort(([a], [b]) => a - b).map(([, item]) => item);
  return { name, latest: sorted.at(-1) as T, of: (v) => byVersion.get(v), all: sorted };
}

export class UnknownVersionError extends SagalineError {
  constructor(saga: string, version: number, known: readonly number[]) {
    super('SAGA_VERSION_UNKNOWN', `saga ${saga} v${version} is not among the versions this runner was given (${known.map((v) => `v${v}`).join(', ')}); deploy it with every version still in flight`);
  }
}

export interface VersionedEvolution {
  evolution: Evolution;
  /** The version recorded for the instance (from SagaStarted or its state). */
  version: number | undefined;
  /** The definition the message was folded with (for a posted saga, the instance's own); undefined when the message was not folded. */
  definition?: SagaDefinition;
}

/**
 * Folds one message with the version the instance runs under. `recorded` is the version a
 * SagaStarted already recorded for an instance that has no state yet.
 */
export function evolveVersioned(versions: Versions<SagaDefinition>, state: InstanceState | undefined, recorded: number | undefined, message: InstanceMessage): VersionedEvolution {
  // Instances are found by id: an id one producer gave an instance of another saga names someone else's instance here.
  if (state !== undefined && state.saga !== versions.name) {
    return { evolution: { state, commands: [], ignored: `${message.sagaId} is an instance of ${state.saga}, not of ${versions.name}: a saga id must be unique across sagas` }, version: state.version };
  }
  if (message.type === SAGA_STARTED) {
    const version = (message.payload as SagaStartedPayload | undefined)?.version;
    if (state !== undefined || typeof version !== 'number') return { evolution: { state, commands: [], ignored: 'a SagaStarted for an instance that has already started' }, version: state?.version ?? recorded };
    return { evolution: { state, commands: [], ignored: `records v${version}; the start message follows` }, version };
  }
  const version = state?.version ?? recorded ?? versions.latest.version;
  const declared = versions.of(version);
  if (!declared) throw new UnknownVersionError(versions.name, version, versions.all.map((d) => d.version));
  let definition = declared;
  if (declared.perInstance && (state !== undefined || message.type === declared.startedBy)) {
    try {
      definition = definitionOfInstance(declared, state ? state.start.payload : message.payload);
    } catch (err) {
      if (!(err instanceof SagaDefinitionError)) throw err;
      return { evolution: { state, commands: [], ignored: `${message.sagaId} describes no saga that can run: ${err.message}` }, version };
    }
  }
  return { evolution: evolveInstance(definition, state, message), version, definition };
}
