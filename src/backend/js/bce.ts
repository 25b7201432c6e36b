// Binary cross-entropy twins over n contiguous predictions and targets at element indices of m.
// bce takes probabilities (PyTorch's clamps), bce_with_logits takes logits (stable form).
import type { Floats } from './floats.js';
import { log1pExpNegAbs, sigmoid } from './math.js';

const LOG_FLOOR = -100;
const VARIANCE_FLOOR = 1e-12;

/**
 * loss = mean of −(y·max(log p, −100) + (1−y)·max(log(1−p), −100));
 * grad = (p − y)/max(p(1−p), 1e-12)/n.  "="
 */
export function bce(m: Floats, grad: number, probs: number, targets: number, n: number): number {
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const p = m[probs + i];
    const y = m[targets + i];
    loss -= y * Math.max(Math.log(p), LOG_FLOOR) + (1 - y) * Math.max(Math.log(1 - p), LOG_FLOOR);
    m[grad + i] = (p - y) / Math.max(p * (1 - p), VARIANCE_FLOOR) / n;
  }
  return loss / n;
}

/** loss = mean of max(z, 0) − z·y + log(1 + e^−|z|); grad = (σ(z) − y)/n.  "=" */
export function bce_with_logits(m: Floats, grad: number, logits: number, targets: number, n: number): number {
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const z = m[logits + i];
    const y = m[targets + i];
    loss += Math.max(z, 0) - z * y + log1pExpNegAbs(z);
    m[grad + i] = (sigmoid(z) - y) / n;
  }
  return loss / n;
}
