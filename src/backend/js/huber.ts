// Huber loss twin over n contiguous predictions and targets at element indices of m.
import type { Floats } from './floats.js';

/**
 * d = p − y; loss = mean of (|d| ≤ delta ? 0.5·d² : delta·(|d| − 0.5·delta));
 * grad = clamp(d, −delta, delta)/n.  "="
 */
export function huber(m: Floats, grad: number, pred: number, targets: number, n: number, delta: number): number {
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const difference = m[pred + i] - m[targets + i];
    const magnitude = Math.abs(difference);
    loss += magnitude <= delta ? 0.5 * difference * difference : delta * (magnitude - 0.5 * delta);
    m[grad + i] = Math.min(Math.max(difference, -delta), delta) / n;
  }
  return loss / n;
}
