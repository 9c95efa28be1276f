/**
 * A saga definition as data, for any saga: its name and version, the message that starts it, and
 * its steps — each with the service that owns it, its success, failure and compensation messages,
 * its retry limit, its deadline and the steps it runs after, so steps run in sequence, in parallel
 * and join. One step may be the pivot, the point of no return: a failure after it is retried
 * forward, never compensated.
 *
 * `defineSaga` checks a definition when it is built and refuses it with one `SagaDefinitionError`
 * listing every problem. The functions below it are the scheduling rules, pure: which steps may
 * run now, when the saga is done, and what to compensate, in which order.
 */
import { SagalineError } from '../../core/errors.ts';

export interface StepSpec {
  /** The service whose participant runs the step (and its compensation). */
  owner: string;
  /** Message the participant emits when the step succeeded. */
  succeeded: string;
  /** Message the participant emits when the step failed for a business reason. */
  failed: string;
  /** Message the participant emits once the step is undone; omitted when it cannot be undone. */
  compensatedBy?: string;
  /** Steps that must have succeeded before this one runs; none: it runs on the start message. */
  after?: readonly string[];
  /** Attempts after a transient failure before the step counts as failed (default 3). */
  retry?: { limit: number };
  /** How long the step may take before it counts as timed out (default 30 s). */
  deadlineMs?: number;
  /** The point of no return: nothing before it is compensated once it succeeded. */
  pivot?: boolean;
}

export interface SagaSpec {
  /** Lower-case words joined by hyphens: it names topics, subjects and tables. */
  name: string;
  /** A positive integer; an instance keeps the version it started under. */
  version: number;
  /** The message that starts an instance. */
  startedBy: string;
  /** Steps by name, in the order they are written (which orders steps that could run at once). */
  steps: Readonly<Record<string, StepSpec>>;
  /**
   * Messages every step shares, each naming its step in its payload's `step` field (the engine's
   * posted sagas use them). A step may name them as its own; they are exempt from "one meaning".
   */
  stepMessages?: StepMessages;
}

export interface StepMessages {
  readonly succeeded: string;
  readonly failed: string;
  readonly compensated: string;
}

export interface DefinedStep {
  readonly name: string;
  readonly owner: string;
  readonly succeeded: string;
  readonly failed: string;
  readonly compensatedBy: string | null;
  readonly after: readonly string[];
  readonly retryLimit: number;
  readonly deadlineMs: number;
  readonly pivot: boolean;
  /** Past the point of no return: the pivot itself or a step after it. Retried forward, never compensated. */
  readonly forwardOnly: boolean;
}

export type MessageRole =
  | { readonly kind: 'start' }
  | { readonly kind: 'succeeded' | 'failed' | 'compensated'; readonly step: string };

export interface SagaDefinition {
  readonly name: string;
  readonly version: number;
  readonly startedBy: string;
  /** Every step, each after the steps it runs after (and otherwise in the order written). */
  readonly steps: readonly DefinedStep[];
  readonly pivot: string | null;
  /** The owning services, in the order they first appear. */
  readonly services: readonly string[];
  /** Every message the definition names, and what it means to the saga (shared step messages aside). */
  readonly messages: ReadonlyMap<string, MessageRole>;
  /** Messages shared by every step, naming their step in the payload's `step` field. */
  readonly stepMessages?: StepMessages;
  /**
   * For a saga whose steps come with each instance (posted sagas): the definition an instance's
   * start payload describes; throws SagaDefinitionError when it describes none. This definition
   * itself then has no steps and only starts instances.
   */
  readonly perInstance?: (startPayload: unknown) => SagaDefinition;
}

export const DEFAULT_RETRY_LIMIT = 3;
export const DEFAULT_STEP_DEADLINE_MS = 30_000;

export type DefinitionProblemCode =
  | 'INVALID_NAME'
  | 'INVALID_VERSION'
  | 'NO_STEPS'
  | 'INVALID_STEP'
  | 'UNKNOWN_STEP'
  | 'CYCLE'
  | 'UNKNOWN_MESSAGE'
  | 'MESSAGE_USED_TWICE'
  | 'TWO_PIVOTS'
  | 'COMPENSATION_AFTER_PIVOT'
  | 'PIVOT_UNORDERED';

export interface DefinitionProblem {
  code: DefinitionProblemCode;
  /** Where, e.g. `steps.SHIP.after[0]`. */
  path: string;
  message: string;
}

/** A saga definition that cannot work. Thrown when it is built; nothing has run or been written. */
export class SagaDefinitionError extends SagalineError {
  readonly saga: string;
  readonly problems: readonly DefinitionProblem[];

  constructor(saga: string, problems: DefinitionProblem[]) {
    const list = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    super('SAGA_DEFINITION_INVALID', `saga definition ${JSON.stringify(saga)} is invalid: ${list}`);
    this.saga = saga;
    this.problems = problems;
  }
}

const SAGA_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const SERVICE_NAME = SAGA_NAME;
const STEP_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const MESSAGE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface DefineOptions {
  /** The message names the schemas define; when given, every message the definition names must be one. */
  knownMessages?: Iterable<string>;
}

/** Checks a saga's spec and returns its definition; throws `SagaDefinitionError` naming every problem. */
export function defineSaga(spec: SagaSpec, options: DefineOptions = {}): SagaDefinition {
  const problems: DefinitionProblem[] = [];
  const problem = (code: DefinitionProblemCode, path: string, message: string): void => {
    problems.push({ code, path, message });
  };
  const sagaName = typeof spec?.name === 'string' ? spec.name : String(spec?.name);

  if (typeof spec.name !== 'string' || !SAGA_NAME.test(spec.name)) {
    problem('INVALID_NAME', 'name', `expected lower-case words joined by hyphens (like "order-fulfilment"), got ${JSON.stringify(spec.name)}`);
  }
  if (!Number.isInteger(spec.version) || spec.version < 1) {
    problem('INVALID_VERSION', 'version', `expected a positive integer, got ${JSON.stringify(spec.version)}`);
  }
  const entries = Object.entries(spec.steps ?? {});
  if (entries.length === 0) problem('NO_STEPS', 'steps', 'a saga needs at least one step');

  // Each step on its own
  const names = new Set(entries.map(([name]) => name));
  for (const [name, step] of entries) {
    const at = `steps.${name}`;
    if (!STEP_NAME.test(name)) problem('INVALID_STEP', at, 'a step name is a letter followed by letters, digits or underscores');
    if (typeof step.owner !== 'string' || !SERVICE_NAME.test(step.owner)) {
      problem('INVALID_STEP', `${at}.owner`, `expected a service name in lower-case words joined by hyphens, got ${JSON.stringify(step.owner)}`);
    }
    if (step.retry !== undefined && (!Number.isInteger(step.retry.limit) || step.retry.limit < 0)) {
      problem('INVALID_STEP', `${at}.retry.limit`, `expected a whole number of attempts (0 or more), got ${JSON.stringify(step.retry.limit)}`);
    }
    if (step.deadlineMs !== undefined && (!Number.isInteger(step.deadlineMs) || step.deadlineMs <= 0)) {
      problem('INVALID_STEP', `${at}.deadlineMs`, `expected a positive number of milliseconds, got ${JSON.stringify(step.deadlineMs)}`);
    }
    const after = step.after ?? [];
    after.forEach((dep, i) => {
      if (dep === name) problem('CYCLE', `${at}.after[${i}]`, 'a step cannot run after itself');
      else if (!names.has(dep)) problem('UNKNOWN_STEP', `${at}.after[${i}]`, `no step is named ${JSON.stringify(dep)}; steps: ${[...names].join(', ')}`);
      else if (after.indexOf(dep) !== i) problem('INVALID_STEP', `${at}.after[${i}]`, `${dep} is listed twice`);
    });
  }

  // Messages: each known, each with one meaning
  const known = options.knownMessages === undefined ? undefined : new Set(options.knownMessages);
  const messages = new Map<string, MessageRole>();
  const usedAt = new Map<string, string>();
  const shared = new Set(spec.stepMessages ? [spec.stepMessages.succeeded, spec.stepMessages.failed, spec.stepMessages.compensated] : []);
  const claim = (message: unknown, path: string, role: MessageRole): void => {
    if (typeof message === 'string' && shared.has(message) && role.kind !== 'start') return;
    if (typeof message !== 'string' || !MESSAGE_NAME.test(message)) {
      problem('UNKNOWN_MESSAGE', path, `expected a message name, got ${JSON.stringify(message)}`);
      return;
    }
    if (known && !known.has(message)) problem('UNKNOWN_MESSAGE', path, `no schema defines a message named ${JSON.stringify(message)}`);
    const earlier = usedAt.get(message);
    if (earlier !== undefined) {
      problem('MESSAGE_USED_TWICE', path, `${message} is already used at ${earlier}; each message has one meaning in a saga`);
      return;
    }
    usedAt.set(message, path);
    messages.set(message, role);
  };
  claim(spec.startedBy, 'startedBy', { kind: 'start' });
  for (const [name, step] of entries) {
    claim(step.succeeded, `steps.${name}.succeeded`, { kind: 'succeeded', step: name });
    claim(step.failed, `steps.${name}.failed`, { kind: 'failed', step: name });
    if (step.compensatedBy !== undefined) claim(step.compensatedBy, `steps.${name}.compensatedBy`, { kind: 'compensated', step: name });
  }

  // Order: every step after what it waits for; no cycles
  const depsOf = (name: string): string[] => (spec.steps[name]?.after ?? []).filter((d) => d !== name && names.has(d));
  const order = topologicalOrder(entries.map(([name]) => name), depsOf);
  if (order.cycle) problem('CYCLE', `steps.${order.cycle[0]}.after`, `the steps wait on each other in a circle: ${order.cycle.join(' → ')}`);

  // The pivot: at most one, ordered against every step, nothing compensated from it on
  const pivots = entries.filter(([, s]) => s.pivot === true).map(([name]) => name);
  if (pivots.length > 1) problem('TWO_PIVOTS', `steps.${pivots[1]}.pivot`, `only one step can be the pivot; ${pivots.join(' and ')} are both marked`);
  const pivot = pivots[0] ?? null;
  const forwardOnly = new Set<string>();
  // (Judged only on a sound graph: a step missing from it would only add noise.)
  const graphSound = !problems.some((p) => p.code === 'UNKNOWN_STEP' || p.code === 'CYCLE');
  if (pivot !== null && graphSound) {
    const before = ancestors(pivot, depsOf);
    for (const [name] of entries) if (name === pivot || ancestors(name, depsOf).has(pivot)) forwardOnly.add(name);
    for (const [name, step] of entries) {
      if (forwardOnly.has(name) && step.compensatedBy !== undefined) {
        problem('COMPENSATION_AFTER_PIVOT', `steps.${name}.compensatedBy`, name === pivot ? 'the pivot is never compensated: a failure after it is retried forward' : `${name} runs after the pivot ${pivot}, so it is retried forward, never compensated`);
      }
      if (!forwardOnly.has(name) && !before.has(name)) {
        problem('PIVOT_UNORDERED', `steps.${name}.after`, `${name} is neither before nor after the pivot ${pivot}: make it run after ${pivot}, or ${pivot} after it`);
      }
    }
  }

  if (problems.length > 0) throw new SagaDefinitionError(sagaName, problems);

  const steps: DefinedStep[] = (order.order ?? []).map((name) => {
    const s = spec.steps[name] as StepSpec;
    return Object.freeze({
      name,
      owner: s.owner,
      succeeded: s.succeeded,
      failed: s.failed,
      compensatedBy: s.compensatedBy ?? null,
      after: Object.freeze([...(s.after ?? [])]),
      retryLimit: s.retry?.limit ?? DEFAULT_RETRY_LIMIT,
      deadlineMs: s.deadlineMs ?? DEFAULT_STEP_DEADLINE_MS,
      pivot: s.pivot === true,
      forwardOnly: forwardOnly.has(name),
    });
  });
  return Object.freeze({
    name: spec.name,
    version: spec.version,
    startedBy: spec.startedBy,
    steps: Object.freeze(steps),
    pivot,
    services: Object.freeze([...new Set(entries.map(([, s]) => s.owner))]),
    messages,
    ...(spec.stepMessages ? { stepMessages: Object.freeze({ ...spec.stepMessages }) } : {}),
  });
}

const perInstanceCache = new WeakMap<object, SagaDefinition>();
/**
 * The definition an instance runs under: `definition` itself, or — for a saga whose steps come with
 * each instance — the one its start payload describes (built once per payload object). Throws
 * SagaDefinitionError when the payload describes no valid saga.
 */
export function definitionOfInstance(definition: SagaDefinition, startPayload: unknown): SagaDefinition {
  if (!definition.perInstance) return definition;
  if (typeof startPayload !== 'object' || startPayload === null) return definition.perInstance(startPayload);
  let found = perInstanceCache.get(startPayload);
  if (!found) perInstanceCache.set(startPayload, (found = definition.perInstance(startPayload)));
  return found;
}

/** Kahn's order, stable by the order written; or one cycle, as the steps around it. */
function topologicalOrder(names: string[], depsOf: (name: string) => string[]): { order?: string[]; cycle?: string[] } {
  const order: string[] = [];
  const placed = new Set<string>();
  while (order.length < names.length) {
    const next = names.find((n) => !placed.has(n) && depsOf(n).every((d) => placed.has(d)));
    if (next === undefined) return { cycle: findCycle(names.filter((n) => !placed.has(n)), depsOf) };
    order.push(next);
    placed.add(next);
  }
  return { order };
}

/** Among steps that all still wait on something unplaced, walk back until a step repeats. */
function findCycle(left: string[], depsOf: (name: string) => string[]): string[] {
  const path: string[] = [];
  let at = left[0] as string;
  while (!path.includes(at)) {
    path.push(at);
    at = depsOf(at).find((d) => left.includes(d)) as string;
  }
  const cycle = path.slice(path.indexOf(at));
  return [...cycle.reverse(), cycle[0] as string];
}

function ancestors(name: string, depsOf: (name: string) => string[]): Set<string> {
  const seen = new Set<string>();
  const stack = [...depsOf(name)];
  while (stack.length > 0) {
    const n = stack.pop() as string;
    if (seen.has(n)) continue;
    seen.add(n);
    stack.push(...depsOf(n));
  }
  return seen;
}

// ---------------------------------------------------------------------------------------------
// Scheduling rules, pure

export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'compensating' | 'compensated';

/** The step a message reports on, or the start; undefined for a message the saga does not name. */
export function roleOf(definition: SagaDefinition, message: string, step?: string): MessageRole | undefined {
  const role = definition.messages.get(message);
  if (role !== undefined || !definition.stepMessages || step === undefined || !stepNamed(definition, step)) return role;
  const shared = definition.stepMessages;
  const kind = message === shared.succeeded ? 'succeeded' : message === shared.failed ? 'failed' : message === shared.compensated ? 'compensated' : undefined;
  return kind && { kind, step };
}

/**
 * Each step's status, by step name: as a status, or as the step's state (an instance's `steps`,
 * read in place by the fold), or from a function that looks one up.
 */
export type StepStatuses = Readonly<Record<string, StepStatus | { readonly status: StepStatus }>> | ((step: string) => StepStatus | undefined);

// Looked up per step rather than through a closure made per call: a replay runs these for nearly every message it folds.
function statusIn(status: StepStatuses, name: string): StepStatus | undefined {
  if (typeof status === 'function') return status(name);
  const s = status[name];
  return typeof s === 'string' ? s : s?.status;
}

/** Steps that may start now: pending, with every step they run after succeeded. None once any step failed. */
export function runnableSteps(definition: SagaDefinition, status: StepStatuses): DefinedStep[] {
  const out: DefinedStep[] = [];
  for (const s of definition.steps) if (statusIn(status, s.name) === 'failed' && !s.forwardOnly) return [];
  next: for (const s of definition.steps) {
    if ((statusIn(status, s.name) ?? 'pending') !== 'pending') continue;
    for (const d of s.after) if (statusIn(status, d) !== 'succeeded') continue next;
    out.push(s);
  }
  return out;
}

/** Every step succeeded. */
export function isCompleted(definition: SagaDefinition, status: StepStatuses): boolean {
  for (const s of definition.steps) if (statusIn(status, s.name) !== 'succeeded') return false;
  return true;
}

const stepsByName = new WeakMap<SagaDefinition, ReadonlyMap<string, DefinedStep>>();
/** A definition's steps by name (built once per definition). */
export function stepNamed(definition: SagaDefinition, name: string): DefinedStep | undefined {
  let byName = stepsByName.get(definition);
  if (!byName) stepsByName.set(definition, (byName = new Map(definition.steps.map((s) => [s.name, s]))));
  return byName.get(name);
}

/**
 * What to undo after a step failed before the pivot: every step that succeeded and can be undone,
 * the last to succeed first (so a parallel branch that finished after its sibling is undone first).
 * `succeededInOrder` lists step names in the order their success arrived.
 */
export function compensationOrder(definition: SagaDefinition, succeededInOrder: readonly string[]): DefinedStep[] {
  return [...succeededInOrder]
    .reverse()
    .map((name) => stepNamed(definition, name))
    .filter((s): s is DefinedStep => s !== undefined && s.compensatedBy !== null && !s.forwardOnly);
}
