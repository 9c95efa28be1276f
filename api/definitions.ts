/**
 * A saga definition as the API shows it (`GET /definitions`, `GET /sagas/{id}/definition`): its
 * steps in the order they run, what each waits for, who owns it, whether it can be undone, and the
 * pivot — enough to draw it. Pure.
 */
import type { SagaDefinition } from '../processors/saga/define-saga.ts';

export interface DefinitionView {
  name: string;
  version: number;
  startedBy: string;
  pivot: string | null;
  services: string[];
  /** Steps come with each instance (a posted saga): ask for an instance's own definition. */
  perInstance: boolean;
  steps: {
    name: string;
    owner: string;
    /** The steps it waits for; none: it runs on the start message. */
    after: string[];
    /** Steps that can run at the same time share a level: 0 for those that run first. */
    level: number;
    pivot: boolean;
    /** The pivot or a step after it: retried forward, never undone. */
    forwardOnly: boolean;
    succeeded: string;
    failed: string;
    compensatedBy: string | null;
    deadlineMs: number;
    retryLimit: number;
  }[];
}

export function describeDefinition(definition: SagaDefinition): DefinitionView {
  const levels = new Map<string, number>();
  // Steps come after those they wait for, so one pass places each below its last predecessor.
  for (const step of definition.steps) levels.set(step.name, Math.max(-1, ...step.after.map((a) => levels.get(a) ?? 0)) + 1);
  return {
    name: definition.name,
    version: definition.version,
    startedBy: definition.startedBy,
    pivot: definition.pivot,
    services: [...definition.services],
    perInstance: definition.perInstance !== undefined,
    steps: definition.steps.map((s) => ({
      name: s.name,
      owner: s.owner,
      after: [...s.after],
      level: levels.get(s.name) ?? 0,
      pivot: s.pivot,
      forwardOnly: s.forwardOnly,
      succeeded: s.succeeded,
      failed: s.failed,
      compensatedBy: s.compensatedBy,
      deadlineMs: s.deadlineMs,
      retryLimit: s.retryLimit,
    })),
  };
}
