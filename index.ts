/**
 * sagaline's public API: what a service imports to define its sagas. (`sagaline/testing` holds
 * the in-memory given/when/then kit.)
 */
export {
  defineSaga,
  runnableSteps,
  isCompleted,
  compensationOrder,
  roleOf,
  SagaDefinitionError,
  DEFAULT_RETRY_LIMIT,
  DEFAULT_STEP_DEADLINE_MS,
} from './processors/saga/define-saga.ts';
export type { SagaSpec, StepSpec, SagaDefinition, DefinedStep, MessageRole, StepStatus, StepStatuses, DefineOptions, DefinitionProblem, DefinitionProblemCode } from './processors/saga/define-saga.ts';
export { evolveInstance, foldInstance, isTerminal, ENGINE_MESSAGES } from './processors/saga/instance.ts';
export type { InstanceState, InstanceStatus, InstanceMessage, StepState, Command, Evolution, OperatorAction } from './processors/saga/instance.ts';
export { SagalineError, ConfigError, MessageValidationError } from './core/errors.ts';
export { newId } from './core/ids.ts';
export { participant, ok, fail, later, TransientError } from './processors/engine/participant.ts';
export type { Participant, ParticipantSpec, StepHandlers, StepInput, StepOutcome, ActOutcome, Complete, PollContext, EndInput } from './processors/engine/participant.ts';
export { runParticipant, participantGroup } from './processors/engine/run-participant.ts';
export type { RunOptions, RunningParticipant } from './processors/engine/run-participant.ts';
export { runSagaMonitor, SAGAS_DATABASE } from './processors/engine/monitor.ts';
export type { RunningMonitor } from './processors/engine/monitor.ts';
export { ActionRefusedError, sagaClient, SagaIdTakenError } from './processors/engine/client.ts';
export type { ActionTaken, SagaClient, SagaRecord, StartOptions } from './processors/engine/client.ts';
export type { SagaListFilter } from './processors/engine/saga-list.ts';
export { provisionSagas } from './infra/provision-sagas.ts';
export type { SagaProvisionInput, SagaProvisionReport } from './infra/provision-sagas.ts';
export { sagaTopic, streamTopic } from './topics/derived.ts';
export { loadConfig, databaseUrlFor, ENGINE_DATABASE } from './core/config.ts';
export type { Config } from './core/config.ts';
export { OutboxWriter } from './outbox-connector/outbox-writer.ts';
export type { OutgoingMessage, MessageMetadata } from './outbox-connector/outbox-writer.ts';
export { sagaContracts } from './schemas/saga-contracts.ts';
export { runDecodingConsumer } from './processors/runtime/consumer.ts';
export type { DecodedMessage } from './processors/runtime/decode.ts';
export { loadProject } from './processors/engine/project.ts';
export type { Project } from './processors/engine/project.ts';
export { Coordinator } from './coordinator/engine.ts';
export type { CoordinatorOptions, CoordinatorHooks, RecoveryReport } from './coordinator/engine.ts';
export type { ActionRegistry, ParticipantAction, ActionContext, ActionResult } from './coordinator/actions.ts';
export { readTransaction } from './coordinator/log.ts';
export type { ParticipantSpec as TransactionParticipant, TransactionRecord } from './coordinator/log.ts';
export { GID_PREFIX, TERMINAL_TRANSACTION_STATES } from './coordinator/states.ts';
export { streamTopics } from './topics/derived.ts';
export { newTraceparent } from './core/ids.ts';
export { waitFor } from './core/wait.ts';
export { createLogger } from './core/log.ts';
export type { Logger } from './core/log.ts';
export { httpParticipant, idempotencyKey, HTTP_MESSAGE_SHAPES } from './processors/engine/http-participant.ts';
export type { HttpParticipantSpec, HttpStepSpec, HttpReply } from './processors/engine/http-participant.ts';
export { staticServices, consulServices, configuredServices, firstOf } from './processors/engine/service-registry.ts';
export type { ServiceRegistry } from './processors/engine/service-registry.ts';
export { postedSagas, postedSagaRunner, parsePostedSaga, postedDefinition, PostedSagaError, POSTED_SAGA, POSTED_MESSAGES, DEFAULT_POSTED_TENANT } from './processors/engine/posted-sagas.ts';
export type { PostedSagaRequest, PostedStep, PostedRunnerOptions, RequestProblem } from './processors/engine/posted-sagas.ts';
export { SagaHttpClient, SagaApiError } from './api/saga-http-client.ts';
export type { SagaHttpClientOptions, FluxoraStep, TypedStep, PostedSteps } from './api/saga-http-client.ts';
export type { FluxoraSaga } from './api/fluxora-shape.ts';
export { createToken, listTokens, revokeToken, withTokenStore, TokenError } from './api/tokens.ts';
export type { Principal, TokenGrant, TokenRow } from './api/tokens.ts';
export { definitionOfInstance } from './processors/saga/define-saga.ts';
export type { StepMessages } from './processors/saga/define-saga.ts';
