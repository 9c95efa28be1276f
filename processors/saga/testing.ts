/**
 * An in-memory given/when/then for a saga definition, without the stack:
 *
 *   sagaSpecification(definition)
 *     .given([{ type: 'OrderPlaced' }, { type: 'OrderChecked' }])
 *     .when({ type: 'PaymentDeclined', payload: { reason: 'card expired' } })
 *     .then({ status: 'Compensating', commands: [{ kind: 'compensate', step: 'CHECK', owner: 'orders' }] });
 *
 * Messages need only their type; the saga id and times are filled in. `then` throws an
 * `Error` naming every difference; it returns the state for further checks.
 */
import { isDeepStrictEqual } from 'node:util';
import type { SagaDefinition } from './define-saga.ts';
import { evolveInstance, foldInstance, type Command, type InstanceMessage, type InstanceState, type InstanceStatus, type StepState } from './instance.ts';

export type GivenMessage = Omit<InstanceMessage, 'sagaId' | 'at'> & { at?: string };

export interface Expectation {
  status?: InstanceStatus;
  commands?: readonly Command[];
  /** Each named step's fields that must match (others are not compared). */
  steps?: Record<string, Partial<StepState>>;
  /** The message must change nothing. */
  ignored?: boolean;
}

const SAGA_ID = 'spec-saga';

export function sagaSpecification(definition: SagaDefinition) {
  let clock = Date.parse('2026-01-01T00:00:00.000Z');
  const fill = (m: GivenMessage): InstanceMessage => ({ ...m, sagaId: SAGA_ID, at: m.at ?? new Date((clock += 1_000)).toISOString() });
  return {
    given(history: readonly GivenMessage[]) {
      const before = foldInstance(definition, history.map(fill)).state;
      return {
        when(message: GivenMessage) {
          const after = evolveInstance(definition, before, fill(message));
          return {
            then(expected: Expectation): InstanceState | undefined {
              const differences: string[] = [];
              if (expected.status !== undefined && after.state?.status !== expected.status) differences.push(`status: expected ${expected.status}, got ${after.state?.status ?? 'no instance'}`);
              if (expected.commands !== undefined && !isDeepStrictEqual(after.commands, expected.commands)) differences.push(`commands: expected ${JSON.stringify(expected.commands)}, got ${JSON.stringify(after.commands)}`);
              if (expected.ignored !== undefined && (after.ignored !== undefined) !== expected.ignored) differences.push(expected.ignored ? `expected ${message.type} to change nothing, but it was applied` : `expected ${message.type} to be applied, but: ${after.ignored}`);
              for (const [name, fields] of Object.entries(expected.steps ?? {})) {
                const actual = after.state?.steps[name];
                for (const [field, value] of Object.entries(fields)) {
                  const got = actual?.[field as keyof StepState];
                  if (!isDeepStrictEqual(got, value)) differences.push(`steps.${name}.${field}: expected ${JSON.stringify(value)}, got ${JSON.stringify(got)}`);
                }
              }
              if (differences.length > 0) throw new Error(`${definition.name}: when ${message.type}: ${differences.join('; ')}`);
              return after.state;
            },
          };
        },
      };
    },
  };
}
