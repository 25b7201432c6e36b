// What every optimizer shares: the model it updates and zeroGrad(). State lives in the model's block,
// in slots laid out like the params, so a step is one kernel call over the whole parameter block.
import type { Sequential } from '../sequential.js';
import { SimdpropError, describe } from '../errors.js';

export abstract class Optimizer {
  /** Steps taken so far. */
  stepCount = 0;
  /** [start, end) float offsets of the trainable parts of the parameter block, filled each step. */
  protected readonly ranges: Int32Array;

  constructor(readonly model: Sequential, public lr: number) {
    checkNumber('lr', lr, 0, Infinity);
    this.ranges = new Int32Array(2 * model.layers.length);
  }

  /** Sets the model's parameter gradients to zero (they accumulate across backward() calls). */
  zeroGrad(): void {
    this.model.zeroGrad();
  }

  /** Updates every trainable parameter from its gradient. */
  abstract step(): void;
}

/** Throws an OPTION error unless value is a finite number in [min, max). */
export function checkNumber(what: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value >= max) {
    const range = max === Infinity ? `≥ ${min}` : `in [${min}, ${max})`;
    throw new SimdpropError('OPTION', `${what} must be a finite number ${range}, got ${describe(value)}`);
  }
  return value;
}
