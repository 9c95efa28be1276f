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
export type { SagaSpec, StepSpec, SagaDefinition, DefinedStep, MessageRole, StepStatus, DefineOptions, DefinitionProblem, DefinitionProblemCode } from './processors/saga/define-saga.ts';
export { evolveInstance, foldInstance, isTerminal, ENGINE_MESSAGES } from './processors/saga/instance.ts';
export type { InstanceState, InstanceStatus, InstanceMessage, StepState, Command, Evolution } from './processors/saga/instance.ts';
export { SagalineError, ConfigError, MessageValidationError } from './core/errors.ts';
