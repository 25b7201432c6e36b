// RMSprop twin (PyTorch's formulas) over a flat parameter block: params, grads, squareAvg, gradAvg and
// momentumBuffer are n contiguous elements at element indices of m; gradAvg is −1 unless centered,
// momentumBuffer −1 unless momentum > 0.
import type { Floats } from './floats.js';

/**
 * g = grad + weightDecay·p; squareAvg = α·squareAvg + (1 − α)·g²; centered: gradAvg = α·gradAvg + (1 − α)·g,
 * avg = √(squareAvg − gradAvg²) + eps, else avg = √squareAvg + eps; momentum μ > 0:
 * momentumBuffer = μ·momentumBuffer + g/avg, p −= lr·momentumBuffer; else p −= lr·g/avg. Grads are not modified.
 */
export function rmsprop_update(
  m: Floats, params: number, grads: number, squareAvg: number, gradAvg: number, momentumBuffer: number, n: number,
  lr: number, alpha: number, eps: number, weightDecay: number, momentum: number, centered: number,
): void {
  for (let i = 0; i < n; i++) {
    const param = m[params + i];
    const g = weightDecay !== 0 ? m[grads + i] + weightDecay * param : m[grads + i];
    const square = alpha * m[squareAvg + i] + (1 - alpha) * g * g;
    m[squareAvg + i] = square;
    let variance = square;
    if (centered) {
      const mean = alpha * m[gradAvg + i] + (1 - alpha) * g;
      m[gradAvg + i] = mean;
      variance = square - mean * mean;
    }
    const avg = Math.sqrt(variance) + eps;
    if (momentum > 0) {
      const buffer = momentum * m[momentumBuffer + i] + g / avg;
      m[momentumBuffer + i] = buffer;
      m[params + i] = param - lr * buffer;
    } else {
      m[params + i] = param - (lr * g) / avg;
    }
  }
}
