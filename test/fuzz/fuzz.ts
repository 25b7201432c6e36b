// What the property tests share: the seed every fc.assert runs with (printed, and replayable), sizes
// biased towards the SIMD loops' tails, and float32 values reaching into every corner of the format.
import fc from 'fast-check';
import type { Random } from '../random.js';
import type { Tolerance } from '../tolerance.js';

/**
 * CI runs a fixed seed (one that has passed every property here), so a submission does not land or
 * fail on the luck of the draw; local runs draw a new seed each time and keep exploring.
 */
const CI_SEED = 533405849;

/**
 * SIMDPROP_FUZZ_SEED replays a run; without it each run draws a new one from the clock (CI: CI_SEED). fast-check
 * takes 32-bit seeds, so the clock is cut to one. SIMDPROP_FUZZ_PATH (with -t naming one property)
 * replays just the failing case, from the "path" a failure prints.
 */
export const FUZZ_SEED = readSeed(process.env.SIMDPROP_FUZZ_SEED);
const FUZZ_PATH = process.env.SIMDPROP_FUZZ_PATH || undefined;

function readSeed(given: string | undefined): number {
  if (given === undefined || given === '') return process.env.CI === 'true' ? CI_SEED : Date.now() | 0;
  const seed = Number(given);
  if (!Number.isInteger(seed)) throw new Error(`SIMDPROP_FUZZ_SEED must be an integer, got "${given}"`);
  return seed | 0;
}

/** Prints the seed of this file's run and how to replay it. */
export function announceSeed(file: string): void {
  console.log(`${file}: fast-check seed ${FUZZ_SEED}; replay with SIMDPROP_FUZZ_SEED=${FUZZ_SEED} npx vitest run ${file}`);
}

/** Asserts `predicate` (which throws on failure) over `numRuns` values of `arbitrary`, from the file's seed. */
export function check<T>(arbitrary: fc.Arbitrary<T>, predicate: (value: T) => void, numRuns: number): void {
  fc.assert(fc.property(arbitrary, predicate), { seed: FUZZ_SEED, numRuns, ...(FUZZ_PATH ? { path: FUZZ_PATH } : {}) });
}

/** Sizes around the 4-wide vectors, the 8-wide GEMM panels and the 16-float alignment, and the range's ends. */
const TAIL_SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 299, 300];

/** One dimension in 1…300: a tail size, an odd size (every odd size leaves a scalar tail), or any. */
export const dimension: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(...TAIL_SIZES),
  fc.integer({ min: 0, max: 149 }).map((half) => 2 * half + 1),
  fc.integer({ min: 1, max: 300 }),
);

/** Dimensions whose product (the work of one case) stays at most `maxProduct`. */
export function boundedDimensions(count: number, maxProduct: number): fc.Arbitrary<number[]> {
  return fc.array(dimension, { minLength: count, maxLength: count }).filter((dims) => dims.reduce((a, b) => a * b, 1) <= maxProduct);
}

/** Element counts for elementwise kernels: one dimension, or a rows × cols block of up to 90,000. */
export const elementCount: fc.Arbitrary<number> = fc.oneof(dimension, fc.tuple(dimension, dimension).map(([rows, cols]) => rows * cols));

/** Which corners of float32 a case's values visit; each flag shrinks to off, so a failure names the corner it needs. */
export interface ValueProfile {
  /** Exact +0 and −0. */
  readonly zeros: boolean;
  /** Subnormals (e.g. 1e-40) and the smallest normals. */
  readonly subnormals: boolean;
  /** ±1e30 or so (the magnitude a kernel's math stays finite at is the kernel's to say). */
  readonly huge: boolean;
  /** NaN and ±Infinity, only where the contract says what they give. */
  readonly specials: boolean;
}

export function valueProfile(allow: { huge?: boolean; specials?: boolean } = {}): fc.Arbitrary<ValueProfile> {
  return fc.record({
    zeros: fc.boolean(),
    subnormals: fc.boolean(),
    huge: allow.huge ? fc.boolean() : fc.constant(false),
    specials: allow.specials ? fc.boolean() : fc.constant(false),
  });
}

const SMALLEST_NORMAL = 2 ** -126;
/** The spacing of float32 below 2^−126. */
export const SUBNORMAL_SPACING = 2 ** -149;
const SPECIALS = [NaN, Infinity, -Infinity];

export interface ValueOptions {
  /** Ordinary values are uniform in ±scale, one in ten ±4 to ±8 times that (default 1). */
  scale?: number;
  /** The magnitude of the huge values (default 1e30). */
  huge?: number;
}

/**
 * `length` float32 values from `random`: mostly uniform in ±scale and large (±4 to ±8·scale) one time in
 * ten, plus the profile's corners, each about one time in twenty: +0 and −0; subnormals (1e-40, the
 * extremes 2^−149 and 2^−126 − 2^−149, or any on their grid) and normals just above them; ±huge·(1…2);
 * NaN and ±Infinity.
 */
export function fuzzValues(random: Random, length: number, profile: ValueProfile, options: ValueOptions = {}): Float32Array {
  const scale = options.scale ?? 1;
  const huge = options.huge ?? 1e30;
  const values = new Float32Array(length);
  const sign = (): number => (random() < 0.5 ? -1 : 1);
  for (let i = 0; i < length; i++) {
    const kind = random();
    if (profile.zeros && kind < 0.05) values[i] = random() < 0.5 ? 0 : -0;
    else if (profile.subnormals && kind >= 0.05 && kind < 0.1) values[i] = sign() * tinyMagnitude(random);
    else if (profile.huge && kind >= 0.1 && kind < 0.15) values[i] = sign() * huge * (random() < 0.25 ? 1 : 1 + random());
    else if (profile.specials && kind >= 0.15 && kind < 0.2) values[i] = SPECIALS[Math.floor(random() * 3)];
    else if (kind >= 0.2 && kind < 0.3) values[i] = sign() * scale * (4 + 4 * random());
    else values[i] = scale * (2 * random() - 1);
  }
  return values;
}

function tinyMagnitude(random: Random): number {
  const kind = random();
  if (kind < 0.2) return 1e-40;
  if (kind < 0.3) return SUBNORMAL_SPACING;
  if (kind < 0.4) return SMALLEST_NORMAL - SUBNORMAL_SPACING;
  if (kind < 0.8) return (1 + Math.floor(random() * (2 ** 23 - 1))) * SUBNORMAL_SPACING;
  return SMALLEST_NORMAL * (1 + 7 * random());
}

/** Values in [0, 1]: exact 0s and 1s one time in ten each, subnormals with the profile, else uniform. */
export function fuzzUnitValues(random: Random, length: number, profile: ValueProfile): Float32Array {
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const kind = random();
    if (kind < 0.1) values[i] = 0;
    else if (kind < 0.2) values[i] = 1;
    else if (profile.subnormals && kind < 0.25) values[i] = tinyMagnitude(random);
    else values[i] = random();
  }
  return values;
}

/**
 * The tolerance plus `spacings` subnormal spacings (one count for every element, or one per element).
 * Below 2^−126 a float32 rounding errs by up to half of 2^−149 in absolute terms, whatever the result:
 * the underflow term of the standard rounding model, which the relative policies of tolerance.ts leave
 * out because the kernel tests have no subnormal results. Each operation that may round a subnormal
 * counts once, scaled by whatever the result is divided by later.
 */
export function withUnderflow(tolerance: Tolerance, spacings: number | ArrayLike<number>): Tolerance {
  const at = typeof spacings === 'number' ? () => spacings : (index: number) => spacings[index];
  return {
    description: `${tolerance.description} + ${typeof spacings === 'number' ? spacings : 'a count per element of'} subnormal spacings`,
    allowance: (expected, index) => tolerance.allowance(expected, index) + at(index) * SUBNORMAL_SPACING,
  };
}

/** A tolerance built element by element (e.g. a policy whose operand size differs per element). */
export function perElement(description: string, toleranceAt: (index: number) => Tolerance): Tolerance {
  return { description, allowance: (expected, index) => toleranceAt(index).allowance(expected, index) };
}

/**
 * A double scalar argument within ±max that float32 rounds relatively: 0, or of magnitude 2^−126 and
 * above. (The wasm kernels take scalars as f32; a double below float32's normal range would lose all
 * relative precision there, which no policy of a float32 kernel can cover.) Float32 scalars need no
 * such care: fc.float() gives any, subnormals included.
 */
export function doubleScalar(max: number, signed = true): fc.Arbitrary<number> {
  const magnitude = fc.double({ min: SMALLEST_NORMAL, max, noNaN: true });
  return fc.oneof(fc.constant(0), signed ? fc.tuple(magnitude, fc.boolean()).map(([m, negative]) => (negative ? -m : m)) : magnitude);
}

// Optimizer hyper-parameters: doubles the wasm side rounds to float32 (see doubleScalar), so 0 or of
// normal float32 magnitude, over the ranges PyTorch accepts and a little beyond its defaults.
const learningRate = fc.oneof(fc.constantFrom(0.1, 0.01, 1e-3), fc.double({ min: 1e-6, max: 1, noNaN: true }));
const weightDecay = fc.oneof(fc.constant(0.01), doubleScalar(0.1, false));
const momentum = fc.oneof(fc.constant(0), fc.constant(0.9), fc.double({ min: 0.01, max: 0.99, noNaN: true }));
const epsilon = fc.oneof(fc.constant(1e-8), fc.double({ min: 1e-10, max: 1e-2, noNaN: true }));

/** sgd_update's arguments after the buffers (firstStep aside). */
export const sgdSettings = fc.record({
  lr: learningRate,
  momentum,
  dampening: doubleScalar(0.9, false),
  nesterov: fc.constantFrom(0, 1),
  weightDecay,
});

/** adam_update's arguments after the buffers. */
export const adamSettings = fc.record({
  lr: learningRate,
  beta1: fc.oneof(fc.constant(0.9), doubleScalar(0.999, false)),
  beta2: fc.oneof(fc.constant(0.999), doubleScalar(0.99999, false)),
  eps: epsilon,
  weightDecay,
  decoupled: fc.constantFrom(0, 1),
  step: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 100_000 })),
});

/** rmsprop_update's arguments after the buffers. */
export const rmspropSettings = fc.record({
  lr: learningRate,
  alpha: fc.oneof(fc.constant(0.99), doubleScalar(0.999, false)),
  eps: epsilon,
  weightDecay,
  momentum,
  centered: fc.constantFrom(0, 1),
  // Centered, the new variance is α·(old variance) + α(1 − α)(gradAvg − g)²: as α → 0 it cancels to float32
  // noise on both sides, and no error bound holds. From α = 0.5 it stays 2000 times above the noise.
}).filter((settings) => !settings.centered || settings.alpha >= 0.5);
