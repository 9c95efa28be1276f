/**
 * Test levers carried inside the request (its `config.simulation`), so failures, hangs and
 * transient errors travel the real path: a step reports a business failure, never answers until
 * its deadline fires, or fails transiently for its first N attempts.
 */
import { later, TransientError, type ActOutcome, type StepInput } from '../../index.ts';
import type { Simulation, TrainingRequested } from './generated.ts';

export const request = (input: Pick<StepInput, 'saga'>): TrainingRequested => input.saga.start.payload as TrainingRequested;
export const simulation = (input: Pick<StepInput, "saga">): Simulation => request(input).config.simulation ?? { failAt: null, hangAt: null, trainingDurationMs: 1_000, transientFailures: {} };

/** Throws a TransientError while the step (or, with `compensation`, its undo) still has transient failures to use up. */
export function transient(input: StepInput, compensation = false): void {
  const key = compensation ? `${input.step}_COMPENSATION` : input.step;
  const failures = simulation(input).transientFailures[key] ?? 0;
  if (input.attempt <= failures) throw new TransientError(`${key} unavailable (simulated, attempt ${input.attempt} of ${failures} failing)`);
}

/** What the levers say about this step before it does its work: fail, hang (answer later, never), or go on. */
export function lever(input: StepInput): { fail: string } | { hang: ActOutcome } | undefined {
  transient(input);
  const sim = simulation(input);
  if (sim.hangAt === input.step) return { hang: later() };
  if (sim.failAt === input.step) return { fail: `simulated failure at ${input.step}` };
  return undefined;
}
