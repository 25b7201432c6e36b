// SGD twin (PyTorch's formulas) over a flat parameter block: params, grads and velocity are n
// contiguous elements at element indices of m; velocity is −1 (absent) when momentum is 0.
import type { Floats } from './floats.js';

/**
 * g = grad + weightDecay·p; with momentum μ ≠ 0: v = firstStep ? g : μ·v + (1 − dampening)·g,
 * then g = nesterov ? g + μ·v : v; finally p −= lr·g. Grads are not modified. No decay term at all
 * when weightDecay is 0, as in PyTorch.
 */
export function sgd_update(
  m: Floats, params: number, grads: number, velocity: number, n: number,
  lr: number, momentum: number, dampening: number, nesterov: number, weightDecay: number, firstStep: number,
): void {
  for (let i = 0; i < n; i++) {
    const param = m[params + i];
    let step = weightDecay !== 0 ? m[grads + i] + weightDecay * param : m[grads + i];
    if (momentum !== 0) {
      const v = firstStep ? step : momentum * m[velocity + i] + (1 - dampening) * step;
      m[velocity + i] = v;
      step = nesterov ? step + momentum * v : v;
    }
    m[params + i] = param - lr * step;
  }
}
