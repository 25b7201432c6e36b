// The float32 error bounds of adam_update and rmsprop_update, shared by the kernel tests and the
// property tests: how far each output may stray from the exact update.
import type { Kernels } from '../src/backend/kernels.js';
import type { Buffers } from './harness.js';
import { FLOAT32_EPSILON, type Tolerance } from './tolerance.js';

export interface AdamSettings {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupled: number;
  readonly step: number;
}

export interface RmspropSettings {
  readonly lr: number;
  readonly alpha: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly centered: number;
}

/**
 * How far float32 may stray from the exact update, element by element: each result's error, carried
 * through the formula's operations, each adding up to `ROUNDING` of the magnitudes it combines (its own
 * rounding and that of its float32 constants). The square root's error is at most √(error) where
 * its argument is near 0. Measured (adam.test.ts, rmsprop.test.ts): the kernels stay within 2ε, and 1ε
 * fails; 1 − β2 formed from a float32 β2 fails most cases.
 */
const ROUNDING = 4 * FLOAT32_EPSILON;

export function adamBounds(
  settings: AdamSettings, params: Float32Array, grads: Float32Array, expAvg: Float32Array, expAvgSq: Float32Array,
  result: { params: Float32Array; expAvg: Float32Array; expAvgSq: Float32Array },
): { params: Tolerance; expAvg: Tolerance; expAvgSq: Tolerance } {
  const { lr, beta1, beta2, eps, weightDecay, decoupled, step } = settings;
  const stepSize = lr / (1 - beta1 ** step);
  const correctionRoot = Math.sqrt(1 - beta2 ** step);
  const n = params.length;
  const [paramBounds, firstBounds, secondBounds] = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  for (let i = 0; i < n; i++) {
    const param = decoupled ? params[i] * (1 - lr * weightDecay) : params[i];
    const gradScale = Math.abs(grads[i]) + (decoupled ? 0 : weightDecay * Math.abs(param));
    firstBounds[i] = ROUNDING * (beta1 * Math.abs(expAvg[i]) + (1 - beta1) * gradScale);
    secondBounds[i] = ROUNDING * (beta2 * expAvgSq[i] + (1 - beta2) * gradScale * gradScale);
    const second = result.expAvgSq[i];
    const root = Math.sqrt(second);
    const rootBound = second === 0 ? Math.sqrt(secondBounds[i]) : Math.min(secondBounds[i] / (2 * root), Math.sqrt(secondBounds[i]));
    const denominator = root / correctionRoot + eps;
    const denominatorBound = rootBound / correctionRoot + ROUNDING * denominator;
    const update = (stepSize * Math.abs(result.expAvg[i])) / denominator;
    const updateBound = (stepSize * firstBounds[i]) / denominator + update * (denominatorBound / denominator + ROUNDING);
    paramBounds[i] = ROUNDING * (Math.abs(param) + Math.abs(result.params[i])) + updateBound;
  }
  const bound = (bounds: Float64Array, what: string): Tolerance => ({
    description: `the float32 error bound of ${what}`,
    allowance: (_expected, index) => bounds[index],
  });
  return { params: bound(paramBounds, 'params'), expAvg: bound(firstBounds, 'expAvg'), expAvgSq: bound(secondBounds, 'expAvgSq') };
}

export interface RmspropState {
  params: Float32Array;
  squareAvg: Float32Array;
  gradAvg: Float32Array;
  momentumBuffer: Float32Array;
}

export function rmspropBounds(settings: RmspropSettings, start: RmspropState, grads: Float32Array, result: RmspropState): Record<keyof RmspropState, Tolerance> {
  const { lr, alpha, eps, weightDecay, momentum, centered } = settings;
  const n = grads.length;
  const [paramBounds, squareBounds, meanBounds, bufferBounds] = [0, 0, 0, 0].map(() => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    const param = start.params[i];
    const g = grads[i] + weightDecay * param;
    const gradScale = Math.abs(grads[i]) + weightDecay * Math.abs(param);
    const gradBound = ROUNDING * gradScale;
    squareBounds[i] = ROUNDING * (alpha * start.squareAvg[i] + (1 - alpha) * gradScale * gradScale);
    let variance = result.squareAvg[i];
    let varianceBound = squareBounds[i];
    if (centered) {
      const mean = result.gradAvg[i];
      meanBounds[i] = ROUNDING * (alpha * Math.abs(start.gradAvg[i]) + (1 - alpha) * gradScale);
      variance -= mean * mean;
      varianceBound += 2 * Math.abs(mean) * meanBounds[i] + ROUNDING * (result.squareAvg[i] + mean * mean);
    }
    const root = Math.sqrt(Math.max(variance, 0));
    const rootBound = root === 0 ? Math.sqrt(varianceBound) : Math.min(varianceBound / (2 * root), Math.sqrt(varianceBound));
    const avg = root + eps;
    const avgBound = rootBound + ROUNDING * avg;
    const quotient = Math.abs(g) / avg;
    const quotientBound = gradBound / avg + quotient * (avgBound / avg + ROUNDING);
    let updateBound = lr * quotientBound;
    if (momentum > 0) {
      bufferBounds[i] = ROUNDING * (momentum * Math.abs(start.momentumBuffer[i]) + quotient) + quotientBound;
      updateBound = lr * bufferBounds[i] + ROUNDING * lr * Math.abs(result.momentumBuffer[i]);
    }
    paramBounds[i] = ROUNDING * (Math.abs(param) + Math.abs(result.params[i])) + updateBound;
  }
  const bound = (bounds: Float64Array, what: string): Tolerance => ({
    description: `the float32 error bound of ${what}`,
    allowance: (_expected, index) => bounds[index],
  });
  return {
    params: bound(paramBounds, 'params'),
    squareAvg: bound(squareBounds, 'squareAvg'),
    gradAvg: bound(meanBounds, 'gradAvg'),
    momentumBuffer: bound(bufferBounds, 'momentumBuffer'),
  };
}

/** One rmsprop_update from `start` on a backend's buffers; absent state (not centered, no momentum) reads as empty. */
export function rmspropStep(
  kernels: Kernels, buffers: Buffers, settings: RmspropSettings, start: RmspropState, grads: Float32Array,
): RmspropState {
  const { lr, alpha, eps, weightDecay, momentum, centered } = settings;
  const n = start.params.length;
  const at = {
    params: buffers.output(n, start.params),
    squareAvg: buffers.output(n, start.squareAvg),
    gradAvg: centered ? buffers.output(n, start.gradAvg) : 0,
    momentumBuffer: momentum > 0 ? buffers.output(n, start.momentumBuffer) : 0,
  };
  kernels.rmsprop_update(at.params, buffers.input(grads), at.squareAvg, at.gradAvg, at.momentumBuffer, n,
    lr, alpha, eps, weightDecay, momentum, centered);
  const read = (offset: number): Float32Array => (offset === 0 ? new Float32Array(0) : buffers.read(offset));
  return { params: read(at.params), squareAvg: read(at.squareAvg), gradAvg: read(at.gradAvg), momentumBuffer: read(at.momentumBuffer) };
}
