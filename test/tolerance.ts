// Named tolerance policies for comparing kernel outputs, and expectClose, which reports the first
// element outside the policy. Each policy says how far |actual − expected| may go for one element.
import { assert } from 'vitest';

export const FLOAT32_EPSILON = 2 ** -23;

export interface Tolerance {
  readonly description: string;
  /** Largest accepted |actual − expected| for the element at `index` whose expected value is `expected`. */
  allowance(expected: number, index: number): number;
}

/** Same value (+0 and −0 count as equal; NaN matches NaN). */
export const exact: Tolerance = { description: 'exact', allowance: () => 0 };

export function relative(rel: number): Tolerance {
  return { description: `relative(${rel})`, allowance: (expected) => rel * Math.abs(expected) };
}

export function mixed(abs: number, rel: number): Tolerance {
  return { description: `mixed(${abs}, ${rel})`, allowance: (expected) => abs + rel * Math.abs(expected) };
}

/**
 * Relative to each element, with a floor of 1e-2 of the tensor's largest |value| (and `floor`): an
 * element far below its tensor's scale carries the rounding of sums at that scale (whole-model
 * outputs and gradients, against another implementation).
 */
export function ofTensor(values: ArrayLike<number>, rel: number, floor = 0): Tolerance {
  let scale = 0;
  for (let i = 0; i < values.length; i++) scale = Math.max(scale, Math.abs(values[i]));
  return {
    description: `relative(${rel}) to each value or 1e-2 of the tensor's largest`,
    allowance: (expected) => rel * Math.max(Math.abs(expected), 1e-2 * scale, floor),
  };
}

/**
 * Element i may be off by `ulps` float32 epsilons of scales[i], the magnitude its rounding error
 * grows with when that is not the result itself: Σ|term| for a sum (which may cancel), |da| for
 * a backward dz = da·f'(z).
 */
export function scaled(scales: ArrayLike<number>, ulps: number): Tolerance {
  return {
    description: `${ulps} ulps of a per-element scale`,
    allowance: (_expected, index) => ulps * FLOAT32_EPSILON * Math.abs(scales[index]),
  };
}

/** A backward pass dz = da·f': f' (at most about 1) to a few float32 ulps, times |da|. */
export function chainRule(upstream: ArrayLike<number>): Tolerance {
  return scaled(upstream, 16);
}

/**
 * Sums, differences of inputs, products and quotients rounded to float32 up to about 8 times, with
 * no cancellation of already rounded values.
 */
export const fewRoundings = relative(8 * FLOAT32_EPSILON);

/**
 * float32 arithmetic whose sums may cancel: the error is a few roundings of the operands (at most
 * `maxOperand` in magnitude), not of the result.
 */
export function cancellingArithmetic(maxOperand: number): Tolerance {
  return mixed(8 * FLOAT32_EPSILON * maxOperand, 8 * FLOAT32_EPSILON);
}

/**
 * Parameters after `steps` training steps on two backends whose products sum in different orders:
 * each step's rounding differences (cancellingArithmetic) carry into the next, so the bound grows
 * with the steps taken.
 */
export function afterSteps(steps: number, maxOperand: number): Tolerance {
  return mixed(steps * 8 * FLOAT32_EPSILON * maxOperand, steps * 8 * FLOAT32_EPSILON);
}

/** exp, log, tanh evaluated in float32 (a few ulps each), followed by a few more operations. */
export const transcendental = mixed(16 * FLOAT32_EPSILON, 16 * FLOAT32_EPSILON);

/**
 * A mean of `terms` non-negative loss terms, each off by up to `termError` (absolute), summed in
 * float32 at worst: a sum of non-negative terms is off by at most about `terms` ulps of itself.
 */
export function meanOfTerms(terms: number, termError = 16 * FLOAT32_EPSILON): Tolerance {
  return mixed(termError, (terms + 16) * FLOAT32_EPSILON);
}

/**
 * Ulps of relative error in float32 softmax-family results: the exponent z − max (or z − lse)
 * carries an absolute error of a few ulps of the largest |logit|, which becomes that relative
 * error in exp; the row sum over `cols` terms adds up to `cols` more.
 */
export function softmaxUlps(cols: number, maxAbsLogit: number): number {
  return cols + 16 + 4 * maxAbsLogit;
}

/**
 * Where exp underflows float32, implementations differ: flushed to 0, subnormal, or clamped near the
 * smallest normal 2^−126 (the wasm vexp clamps its argument there). Probabilities below twice that agree.
 */
export const EXP_UNDERFLOW = 2 ** -125;

/** The largest |value| over all the given arrays: the operand size the policies above scale with. */
export function largestMagnitude(...arrays: ArrayLike<number>[]): number {
  let largest = 0;
  for (const values of arrays) for (let i = 0; i < values.length; i++) largest = Math.max(largest, Math.abs(values[i]));
  return largest;
}

function accepts(actual: number, expected: number, allowance: number): boolean {
  if (Number.isNaN(expected)) return Number.isNaN(actual);
  if (!Number.isFinite(expected)) return actual === expected;
  return Math.abs(actual - expected) <= allowance;
}

/** Asserts that actual matches expected element by element under the tolerance; `what` names the case. */
export function expectClose(
  actual: ArrayLike<number> | number,
  expected: ArrayLike<number> | number,
  tolerance: Tolerance,
  what: string,
): void {
  const actualValues = typeof actual === 'number' ? [actual] : actual;
  const expectedValues = typeof expected === 'number' ? [expected] : expected;
  if (actualValues.length !== expectedValues.length) {
    assert.fail(`${what}: ${actualValues.length} values, expected ${expectedValues.length}`);
  }
  let firstMismatch = -1;
  let mismatches = 0;
  for (let i = 0; i < expectedValues.length; i++) {
    if (accepts(actualValues[i], expectedValues[i], tolerance.allowance(expectedValues[i], i))) continue;
    if (firstMismatch < 0) firstMismatch = i;
    mismatches++;
  }
  if (firstMismatch < 0) return;
  const a = actualValues[firstMismatch];
  const e = expectedValues[firstMismatch];
  assert.fail(
    `${what}: ${mismatches} of ${expectedValues.length} values outside ${tolerance.description}; ` +
      `first at index ${firstMismatch}: actual ${a}, expected ${e}, ` +
      `difference ${Math.abs(a - e)}, allowed ${tolerance.allowance(e, firstMismatch)}`,
  );
}
