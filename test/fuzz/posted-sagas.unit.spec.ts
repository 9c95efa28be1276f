/**
 * Posted saga definitions (`POST /sagas`) as a hostile client writes them: every body either reads
 * as a saga that can run or is refused with a PostedSagaError naming where each problem is; the
 * parser never throws anything else, and never accepts a graph the engine cannot run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePostedSaga, postedDefinition, PostedSagaError } from '../../processors/engine/posted-sagas.ts';
import { asParsedJson, FUZZ_TIMEOUT_MS, fuzzRuns, HOSTILE_KEYS, hostileJson, hostileString } from '../support/fuzz.ts';

/** Mostly a good value, sometimes a hostile one: deep enough for a body to be accepted now and then. */
const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>): fc.Arbitrary<T | U> => fc.oneof({ weight: 12, arbitrary: good }, { weight: 1, arbitrary: bad });
const maybe = <T>(a: fc.Arbitrary<T>) => mostly(a, hostileJson);
const endpoint = mostly(fc.constantFrom('/book', '/undo', 'http://127.0.0.1:9/x'), fc.oneof(fc.constantFrom('https://example.test/a b', 'ftp://x', '/', ' /x'), hostileString));
const service = mostly(fc.constantFrom('flights', 'hotels', 'car-hire'), fc.oneof(fc.constantFrom('Flights', 'a--b', '-a'), hostileString));
const stepName = mostly(fc.constantFrom('BOOK', 'PAY', 'SHIP', 'constructor', 'hasOwnProperty', 'toString', 'valueOf'), fc.oneof(fc.constantFrom('__proto__', '9x', 'step_0'), hostileString));
const whole = mostly(fc.integer({ min: 0, max: 5 }), fc.constantFrom(-1, 2_147_483_647, 2_147_483_648, 1.5, 0));

const fluxoraStep = fc.record(
  {
    name: maybe(stepName),
    service_name: maybe(service),
    action_endpoint: maybe(endpoint),
    compensation_endpoint: fc.oneof(fc.constant(null), maybe(endpoint)),
    payload: hostileJson,
    retry_limit: maybe(whole),
    deadline_ms: maybe(whole),
    timeout_ms: maybe(whole),
  },
  { requiredKeys: ['service_name', 'action_endpoint', 'compensation_endpoint'] },
);

const typedStep = fc.record(
  {
    service: maybe(service),
    action: maybe(endpoint),
    compensation: fc.oneof(fc.constant(null), maybe(endpoint)),
    payload: hostileJson,
    after: maybe(fc.array(stepName, { maxLength: 2 })),
    pivot: maybe(fc.boolean()),
    retryLimit: maybe(whole),
    deadlineMs: maybe(whole),
  },
  { requiredKeys: ['service', 'action'] },
);

const steps = fc.oneof(
  { weight: 3, arbitrary: fc.array(fc.oneof({ weight: 3, arbitrary: fluxoraStep }, { weight: 1, arbitrary: fc.array(fluxoraStep, { maxLength: 3 }) }), { maxLength: 4 }) },
  { weight: 3, arbitrary: fc.dictionary(stepName, maybe(typedStep), { maxKeys: 4 }) },
  { weight: 1, arbitrary: hostileJson },
);

/** A body: mostly the right shape with hostile parts, sometimes anything at all; always as JSON.parse would hand it over. */
const body = fc
  .oneof(
    { weight: 4, arbitrary: fc.record({ name: mostly(fc.constant('trip'), fc.oneof(fc.constantFrom(' ', ''), hostileJson)), steps, tenantId: hostileJson }, { requiredKeys: ['steps'] }) },
    { weight: 1, arbitrary: hostileJson },
    { weight: 1, arbitrary: fc.dictionary(fc.constantFrom(...HOSTILE_KEYS, 'name', 'steps'), hostileJson, { maxKeys: 4 }) },
  )
  .map(asParsedJson);

describe('posted saga definitions, fuzzed', () => {
  it('given any body, when it is parsed, then it is a saga the engine can run or a PostedSagaError naming each problem, and nothing else', () => {
    let accepted = 0;
    fc.assert(
      fc.property(body, (input) => {
        let parsed;
        try {
          parsed = parsePostedSaga(input);
        } catch (err) {
          expect(err, String((err as Error)?.stack)).toBeInstanceOf(PostedSagaError);
          const problems = (err as PostedSagaError).problems;
          expect(problems.length).toBeGreaterThan(0);
          for (const p of problems) {
            expect(typeof p.path === 'string' && p.path.length > 0, JSON.stringify(p)).toBe(true);
            expect(typeof p.message === 'string' && p.message.length > 0, JSON.stringify(p)).toBe(true);
          }
          expect((err as PostedSagaError).code).toBe('REQUEST_INVALID');
          return;
        }
        accepted += 1;
        // Accepted: the definition its start message describes is one the engine runs, step for step.
        const definition = postedDefinition(asParsedJson(parsed));
        expect(definition.steps.map((s) => s.name).sort()).toEqual(parsed.steps.map((s) => s.name).sort());
        expect(parsed.steps.length).toBeGreaterThan(0);
        for (const s of parsed.steps) for (const a of s.after) expect(parsed.steps.some((t) => t.name === a)).toBe(true);
      }),
      fuzzRuns(1_000, 50),
    );
    // The generator reaches the accepting side too, or the property above only ever saw refusals.
    expect(accepted).toBeGreaterThan(0);
  }, FUZZ_TIMEOUT_MS);
});
