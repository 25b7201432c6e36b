// Loss names, what each expects of the network's output and of its targets, and the kernel call.
import type { Kernels } from './backend/kernels.js';
import type { ActivationName } from './activations.js';
import { SimdpropError, describe } from './errors.js';

export type LossName = 'softmaxCrossEntropy' | 'bce' | 'bceWithLogits' | 'mse' | 'huber' | 'mean';

export const LOSSES: readonly LossName[] = ['softmaxCrossEntropy', 'bce', 'bceWithLogits', 'mse', 'huber', 'mean'];

export interface LossOptions {
  /** Huber's threshold between the quadratic and the linear part (default 1, as PyTorch). */
  delta?: number;
}

export function checkLoss(name: unknown): LossName {
  if (typeof name === 'string' && (LOSSES as readonly string[]).includes(name)) return name as LossName;
  throw new SimdpropError('UNKNOWN_NAME', `unknown loss ${describe(name)}: expected one of ${LOSSES.join(', ')}`);
}

/** The Huber threshold from the options, checked. */
export function huberDelta(options: LossOptions | undefined): number {
  const delta = options?.delta ?? 1;
  if (!(typeof delta === 'number' && delta > 0 && Number.isFinite(delta))) {
    throw new SimdpropError('OPTION', `huber delta must be a positive finite number, got ${describe(delta)}`);
  }
  return delta;
}

/**
 * Losses that take logits would apply their squashing twice after a squashing output layer: a
 * silent, classic bug, refused here with the fix.
 */
export function checkLossFitsOutput(loss: LossName, outputActivation: ActivationName): void {
  if (loss === 'softmaxCrossEntropy' && outputActivation === 'softmax') {
    throw new SimdpropError('OPTION',
      "softmaxCrossEntropy takes logits, but the last layer applies softmax already: give the last layer 'linear'");
  }
  if (loss === 'bceWithLogits' && outputActivation === 'sigmoid') {
    throw new SimdpropError('OPTION',
      "bceWithLogits takes logits, but the last layer applies sigmoid already: use 'bce', or give the last layer 'linear'");
  }
}

/**
 * Whether the loss compares the output with targets: all but 'mean', whose loss is the output's own
 * mean (a term the model computes, such as a VAE's KL divergence).
 */
export function lossTakesTargets(loss: LossName): boolean {
  return loss !== 'mean';
}

/** Whether the loss's targets may lie anywhere, or must be probabilities in [0, 1]. */
export function targetsAreProbabilities(loss: LossName): boolean {
  return loss === 'bce' || loss === 'bceWithLogits' || loss === 'softmaxCrossEntropy';
}

/**
 * Runs the loss kernel: writes dL/d(output) into grad and returns the mean loss. `labels` says whether
 * targets holds int32 class indices (softmax cross-entropy only) or float rows like the output.
 */
export function runLoss(
  kernels: Kernels, loss: LossName, grad: number, output: number, targets: number, labels: boolean,
  rows: number, cols: number, delta: number,
): number {
  const n = rows * cols;
  switch (loss) {
    case 'softmaxCrossEntropy':
      return labels
        ? kernels.softmax_cross_entropy_labels(grad, output, targets, rows, cols)
        : kernels.softmax_cross_entropy_targets(grad, output, targets, rows, cols);
    case 'bce': return kernels.bce(grad, output, targets, n);
    case 'bceWithLogits': return kernels.bce_with_logits(grad, output, targets, n);
    case 'mse': return kernels.mse(grad, output, targets, n);
    case 'huber': return kernels.huber(grad, output, targets, n, delta);
    case 'mean': return kernels.mean_loss(grad, output, n);
  }
}
