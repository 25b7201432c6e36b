// Adam and AdamW twin (PyTorch's formulas) over a flat parameter block: params, grads and the two moment
// estimates are n contiguous elements at element indices of m.
import type { Floats } from './floats.js';

/**
 * Weight decay (none when weightDecay is 0): decoupled = 0 g = grad + weightDecay·p; decoupled = 1
 * p = p·(1 − lr·weightDecay) first. expAvg = β1·expAvg + (1 − β1)·g, expAvgSq = β2·expAvgSq + (1 − β2)·g²,
 * p −= (lr/bc1)·expAvg / (√expAvgSq/√bc2 + eps) with bc1 = 1 − β1^step, bc2 = 1 − β2^step (step from 1).
 * Grads are not modified.
 */
export function adam_update(
  m: Floats, params: number, grads: number, expAvg: number, expAvgSq: number, n: number,
  lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: number, step: number,
): void {
  const stepSize = lr / (1 - beta1 ** step);
  const correctionRoot = Math.sqrt(1 - beta2 ** step);
  const shrink = 1 - lr * weightDecay;
  const decayGrads = weightDecay !== 0 && !decoupled;
  const decayParams = weightDecay !== 0 && !!decoupled;
  for (let i = 0; i < n; i++) {
    const param = decayParams ? m[params + i] * shrink : m[params + i];
    const g = decayGrads ? m[grads + i] + weightDecay * param : m[grads + i];
    const first = beta1 * m[expAvg + i] + (1 - beta1) * g;
    const second = beta2 * m[expAvgSq + i] + (1 - beta2) * g * g;
    m[expAvg + i] = first;
    m[expAvgSq + i] = second;
    m[params + i] = param - (stepSize * first) / (Math.sqrt(second) / correctionRoot + eps);
  }
}
