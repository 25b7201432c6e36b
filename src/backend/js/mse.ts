// Mean squared error twin over n contiguous predictions and targets at element indices of m.
import type { Floats } from './floats.js';

/** loss = mean of (p − y)²; grad = 2(p − y)/n.  "=" */
export function mse(m: Floats, grad: number, pred: number, targets: number, n: number): number {
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const difference = m[pred + i] - m[targets + i];
    loss += difference * difference;
    m[grad + i] = (2 * difference) / n;
  }
  return loss / n;
}
