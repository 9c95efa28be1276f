/**
 * The contracts a project's sagas run on: its own `.avsc` files (a folder with `messages/` and,
 * optionally, `shared/`) together with the engine's own messages (`schemas/engine`, namespace
 * `sagaline.engine`). Checked against the definitions before anything runs: every message a
 * definition names has a schema, and no project message takes an engine message's name.
 */
import { join } from 'node:path';
import { PROJECT_ROOT } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import type { SagaDefinition } from '../processors/saga/define-saga.ts';
import { loadContracts, type Contracts } from './contracts.ts';

/** Shipped as .avsc files beside the sources (not in dist/): found from the package root. */
export const ENGINE_SCHEMAS_DIR = join(PROJECT_ROOT, 'schemas', 'engine');

/** The engine's messages about an instance of any saga, or one of its steps. */
export const ENGINE_MESSAGE_TYPES = ['SagaStarted', 'StepTimedOut', 'CompensationFailed', 'StepAttemptFailed', 'SagaCancelRequested', 'CompensationRetryRequested', 'ParkedMessageResumed', 'ParkedMessageSkipped'] as const;
export type EngineMessageType = (typeof ENGINE_MESSAGE_TYPES)[number];
/** The engine's messages of posted sagas (POST /sagas): only on their own topic. */
export const POSTED_MESSAGE_TYPES = ['PostedSagaRequested', 'PostedStepSucceeded', 'PostedStepFailed', 'PostedStepCompensated'] as const;

export interface SagaStartedPayload { saga: string; version: number }
export interface StepTimedOutPayload { saga: string; step: string; deadlineMs: number; reason: string }
export interface CompensationFailedPayload { saga: string; step: string; attempts: number; reason: string }
export interface StepAttemptFailedPayload { saga: string; step: string; attempt: number; compensation: boolean; reason: string }
/** SagaCancelRequested and CompensationRetryRequested: an operator's action on one instance. */
export interface OperatorActionPayload { saga: string; by: string; reason: string }
/** ParkedMessageResumed and ParkedMessageSkipped: an operator's action on a message a participant parked. */
export interface ParkedMessageActionPayload extends OperatorActionPayload { service: string; messageId: string; messageType: string; error: string }

/** A project's schemas folder (or contracts already loaded) merged with the engine's, checked against `sagas`. */
export function sagaContracts(schemas: string | Contracts, sagas: readonly SagaDefinition[]): Contracts {
  const own = typeof schemas === 'string' ? loadContracts(schemas) : schemas;
  const engine = loadContracts(ENGINE_SCHEMAS_DIR);
  const where = typeof schemas === 'string' ? schemas : 'the contracts given';
  const problems: string[] = [];
  for (const name of [...ENGINE_MESSAGE_TYPES, ...POSTED_MESSAGE_TYPES]) {
    if (own.messages.has(name)) problems.push(`${name} is a message of the engine (sagaline.engine); give the project's record another name`);
  }
  for (const saga of sagas) {
    for (const message of saga.messages.keys()) {
      if (!own.messages.has(message) && !(POSTED_MESSAGE_TYPES as readonly string[]).includes(message)) problems.push(`saga ${saga.name} names message ${message}, which has no schema in ${where}/messages`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`the sagas' schemas do not match their definitions:\n  - ${problems.join('\n  - ')}`);
  return {
    registry: { ...engine.registry, ...own.registry },
    messages: new Map([...engine.messages, ...own.messages]),
    sources: new Map([...engine.sources, ...own.sources]),
  };
}
