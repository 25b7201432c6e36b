// Gradient clipping over the whole flat gradient block, PyTorch's clip_grad_norm_ semantics.
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';

/** What clipping needs of a model: its kernels and the flat gradient block. */
export interface GradientBlock {
  readonly kernels: Kernels;
  readonly gradsPointer: number;
  readonly sectionFloats: number;
}

export interface ClipNormOptions {
  /** Throw instead of clipping when the norm is NaN or infinite (default false, as PyTorch). */
  errorIfNonfinite?: boolean;
}

/**
 * Scales every gradient by maxNorm / (‖g‖ + 1e-6) when the L2 norm of all gradients together exceeds
 * maxNorm; returns that norm as it was before clipping. One reduction and one scale over the block.
 */
export function clipGradNorm(model: GradientBlock, maxNorm: number, options?: ClipNormOptions): number {
  if (!(typeof maxNorm === 'number' && maxNorm > 0 && Number.isFinite(maxNorm))) {
    throw new SimdpropError('OPTION', `maxNorm must be a positive finite number, got ${describe(maxNorm)}`);
  }
  const { kernels } = model;
  const grads = model.gradsPointer;
  if (options?.errorIfNonfinite === true) {
    const total = Math.sqrt(kernels.sum_squares(grads, model.sectionFloats));
    if (!Number.isFinite(total)) {
      throw new SimdpropError('NOT_FINITE',
        `the total gradient norm is ${total}: a gradient is NaN or infinite, so clipping cannot help (gradients left as they were)`);
    }
  }
  return kernels.clip_grad_norm(grads, model.sectionFloats, maxNorm);
}

/** Clamps every gradient to [−clipValue, clipValue] (PyTorch's clip_grad_value_): one pass over the block. */
export function clipGradValue(model: GradientBlock, clipValue: number): void {
  if (!(typeof clipValue === 'number' && clipValue > 0 && Number.isFinite(clipValue))) {
    throw new SimdpropError('OPTION', `clipValue must be a positive finite number, got ${describe(clipValue)}`);
  }
  model.kernels.clamp(model.gradsPointer, model.sectionFloats, -clipValue, clipValue);
}
