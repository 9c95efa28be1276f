/**
 * How hard the fuzz suites (test/fuzz/) push: in `npm test`, a fixed seed and a bounded number of
 * cases, so a run is repeatable and short; `npm run test:fuzz` (SAGALINE_FUZZ=long) runs many more
 * cases from a new seed each time. A failure prints the seed and the shrunk case: rerun it with
 * SAGALINE_FUZZ_SEED=<seed> (and the same SAGALINE_FUZZ).
 */
import fc from 'fast-check';

const LONG = process.env.SAGALINE_FUZZ === 'long';
const FIXED_SEED = 20_261_205;

function seed(): number {
  const given = process.env.SAGALINE_FUZZ_SEED;
  if (given !== undefined) {
    const n = Number(given);
    if (!Number.isInteger(n)) throw new Error(`SAGALINE_FUZZ_SEED must be a whole number, got "${given}"`);
    return n;
  }
  return LONG ? Math.floor(Math.random() * 2 ** 31) : FIXED_SEED;
}

const SEED = seed();
if (LONG) process.stderr.write(`fuzz: seed ${SEED} (rerun with SAGALINE_FUZZ_SEED=${SEED} SAGALINE_FUZZ=long)\n`);

/** fast-check parameters for a property: `cases` in `npm test`, `longFactor` times as many in the long run. */
export function fuzzRuns(cases: number, longFactor = 25): fc.Parameters<unknown> {
  return { seed: SEED, numRuns: LONG ? cases * longFactor : cases, endOnFailure: !LONG };
}

/** The number of cases a property runs (for the suites that draw samples themselves). */
export function fuzzCount(cases: number, longFactor = 25): number {
  return LONG ? cases * longFactor : cases;
}

/** Random values of a case drawn without a property around them, from the run's seed. */
export function fuzzSample<T>(arbitrary: fc.Arbitrary<T>, cases: number, longFactor = 25): T[] {
  return fc.sample(arbitrary, { seed: SEED, numRuns: fuzzCount(cases, longFactor) });
}

export const FUZZ_SEED = SEED;

/** A fuzz test's time limit: a bounded run in `npm test`, an hour in the long one. */
export const FUZZ_TIMEOUT_MS = LONG ? 3_600_000 : 120_000;

/** Keys a hostile JSON body puts where a field name goes: prototype names and look-alikes. */
export const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', ''] as const;

/** Hostile strings: empty, blank, control and format characters, huge, and look-alike syntax. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', ' ', '\u0000', '\n', '\u202e', '\ud800', '../../etc/passwd', '%00', '${x}', "'; drop table outbox; --", 'null', 'undefined', '-1', '1e309', ...HOSTILE_KEYS),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ minLength: 190, maxLength: 260 }),
);

/** Any JSON value, with hostile strings and keys among the plain ones. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(2 ** 53, -(2 ** 31) - 1, 2 ** 31, 0.5),
    hostileString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Any value as it arrives in a JSON body: through JSON text, so keys like `__proto__` are own properties as JSON.parse makes them. */
export const asParsedJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? 'null');
