/**
 * The config module of a project's own sagas: a JavaScript (or TypeScript) module whose default
 * export lists its definitions, its participants and where its schemas are —
 *
 *   export default { schemas: './schemas', sagas: [booking], participants: [rooms, billing] };
 *
 * Commands take it with `--config [file]`; without a file name, `sagaline.config.mjs` in the
 * current folder. Checked when loaded, with errors that name the file.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../../core/errors.ts';
import type { Participant } from './participant.ts';
import type { SagaDefinition } from '../saga/define-saga.ts';
import type { ActionRegistry } from '../../coordinator/actions.ts';

export const DEFAULT_CONFIG_FILE = 'sagaline.config.mjs';
const STREAM_NAME = /^[a-z][a-z0-9-]{0,100}$/;

export interface Project {
  file: string;
  /** Absolute: relative paths in the module are taken from its own folder. */
  schemas: string;
  sagas: SagaDefinition[];
  participants: Participant[];
  /**
   * Event logs outside any saga, by name: `sagaline.<name>` carries the listed messages (of the
   * project's schemas), written through the outbox of any of the project's databases — what a
   * two-phase commit action publishes, say.
   */
  streams: Readonly<Record<string, readonly string[]>>;
  /** The two-phase commit actions the coordinator may run for this project (`sagaline 2pc`, `POST /2pc/…`). */
  twoPhaseCommit?: { actions: ActionRegistry };
}

const isDefinition = (s: unknown): s is SagaDefinition =>
  typeof s === 'object' && s !== null && typeof (s as SagaDefinition).name === 'string' && Array.isArray((s as SagaDefinition).steps) && (s as SagaDefinition).messages instanceof Map;
const isParticipant = (p: unknown): p is Participant =>
  typeof p === 'object' && p !== null && typeof (p as Participant).service === 'string' && isDefinition((p as Participant).saga) && typeof (p as Participant).database === 'string';

/** `true` (the flag without a value) means the default file in the current folder. */
export async function loadProject(option: string | true): Promise<Project> {
  const file = resolve(option === true ? DEFAULT_CONFIG_FILE : option);
  if (!existsSync(file)) throw new ConfigError(`no config module at ${file}${option === true ? ` (the default, ${DEFAULT_CONFIG_FILE} in the current folder; pass --config <file> for another)` : ''}`);
  let loaded: unknown;
  try {
    loaded = ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
  } catch (err) {
    throw new ConfigError(`${file} could not be loaded: ${(err as Error).message}`, { cause: err });
  }
  const c = loaded as { schemas?: unknown; sagas?: unknown; participants?: unknown; streams?: unknown; twoPhaseCommit?: { actions?: unknown } } | undefined;
  const problems: string[] = [];
  if (!c || typeof c !== 'object') problems.push('its default export must be an object { schemas, sagas, participants }');
  else {
    if (typeof c.schemas !== 'string') problems.push('schemas: the folder of its .avsc files (with messages/), as a string');
    if (!Array.isArray(c.sagas) || c.sagas.length === 0 || !c.sagas.every(isDefinition)) problems.push('sagas: a non-empty list of what defineSaga() returned');
    if (c.participants !== undefined && (!Array.isArray(c.participants) || !c.participants.every(isParticipant))) problems.push('participants: a list of what participant() returned');
    if (c.streams !== undefined && (typeof c.streams !== 'object' || c.streams === null || !Object.entries(c.streams).every(([name, types]) => STREAM_NAME.test(name) && Array.isArray(types) && types.length > 0 && types.every((t) => typeof t === 'string')))) {
      problems.push('streams: { <name: lower-case letters, digits and -> : [message type, …] }');
    }
    if (c.twoPhaseCommit !== undefined && (typeof c.twoPhaseCommit !== 'object' || c.twoPhaseCommit === null || typeof c.twoPhaseCommit.actions !== 'object' || c.twoPhaseCommit.actions === null)) {
      problems.push('twoPhaseCommit: { actions: { <name>: { ddl, writes, run } } }');
    }
  }
  if (problems.length > 0) throw new ConfigError(`${file}:\n  - ${problems.join('\n  - ')}`);
  const schemas = c!.schemas as string;
  return {
    file,
    schemas: isAbsolute(schemas) ? schemas : resolve(dirname(file), schemas),
    sagas: c!.sagas as SagaDefinition[],
    participants: (c!.participants as Participant[] | undefined) ?? [],
    streams: (c!.streams as Record<string, string[]> | undefined) ?? {},
    ...(c!.twoPhaseCommit ? { twoPhaseCommit: { actions: c!.twoPhaseCommit.actions as ActionRegistry } } : {}),
  };
}

/** The newest version of the saga `name`: what a new instance starts under. */
export function sagaNamed(config: Project, name: string): SagaDefinition {
  const saga = config.sagas.filter((s) => s.name === name).sort((a, b) => b.version - a.version)[0];
  if (!saga) throw new ConfigError(`${config.file} defines no saga ${JSON.stringify(name)} (it defines ${[...new Set(config.sagas.map((s) => s.name))].join(', ')})`);
  return saga;
}
