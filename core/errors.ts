/**
 * One error hierarchy for the whole project.
 *
 * `retriable` says whether trying the same thing again may succeed (a broker that is still
 * starting) or never will (a bad configuration, a programming error). `code` is stable and
 * machine-readable; the message is for humans and names what is wrong.
 */
export class SagalineError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** The environment or a flag holds a value that cannot work. Never retriable. */
export class ConfigError extends SagalineError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONFIG_INVALID', message, options);
  }
}

export type StackErrorCode =
  | 'MISSING_BINARY'
  | 'PORT_TAKEN'
  | 'DOWNLOAD_FAILED'
  | 'COMPONENT_DIED'
  | 'NOT_READY'
  | 'STATE_INVALID'
  | 'COMMAND_FAILED';

/** The local stack cannot be brought up, inspected or stopped. */
export class StackError extends SagalineError {
  /** Last lines of the component's log, when a component is the cause. */
  readonly logTail: string | undefined;

  constructor(code: StackErrorCode, message: string, options: { cause?: unknown; logTail?: string; retriable?: boolean } = {}) {
    super(code, message, options);
    this.logTail = options.logTail;
  }
}

/** A named condition did not hold before its deadline. */
export class TimeoutError extends SagalineError {
  constructor(condition: string, timeoutMs: number, options: { cause?: unknown } = {}) {
    const last = options.cause instanceof Error ? ` (last error: ${options.cause.message})` : '';
    super('TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${condition}${last}`, { retriable: true, ...options });
  }
}

/** A message does not match its schema. Nothing was written; the caller's transaction is still usable. */
export class MessageValidationError extends SagalineError {
  readonly messageType: string;
  /** Each problem as `path: expected type (got value)`. */
  readonly problems: string[];

  constructor(messageType: string, problems: string[]) {
    super('MESSAGE_INVALID', `invalid ${messageType}: ${problems.join('; ')}`);
    this.messageType = messageType;
    this.problems = problems;
  }
}

/** A schema change the registry (or our forward check) refuses. */
export class SchemaCompatibilityError extends SagalineError {
  readonly subject: string;
  readonly incompatibility: string;

  constructor(subject: string, incompatibility: string, options: { cause?: unknown } = {}) {
    super('SCHEMA_INCOMPATIBLE', `schema for subject ${subject} is incompatible: ${incompatibility}`, options);
    this.subject = subject;
    this.incompatibility = incompatibility;
  }
}

/** A message that cannot be decoded or is of no known type (it goes to the dead-letter topic). */
export class PoisonMessageError extends SagalineError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('POISON_MESSAGE', message, options);
  }
}
