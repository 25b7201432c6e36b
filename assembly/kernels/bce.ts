// Binary cross-entropy over n float32 elements, on probabilities and on logits. Both return the mean
// loss and write its gradient. The log terms are scalar float64: these run on the output layer only.
import { lane0, vsigmoid } from './vmath';

/**
 * Loss = mean of −(y·max(log p, −100) + (1−y)·max(log(1−p), −100)) — PyTorch's clamp, so log never
 * sees 0; grad = (p − y)/max(p(1 − p), 1e-12)/n.  "="
 */
export function bce(grad: usize, probs: usize, targets: usize, n: i32): f64 {
  const inverseN: f64 = 1 / <f64>n;
  let loss: f64 = 0;
  for (let i = 0; i < n; i++) {
    const offset = <usize>i << 2;
    const p = <f64>load<f32>(probs + offset);
    const y = <f64>load<f32>(targets + offset);
    loss -= y * Math.max(Math.log(p), -100) + (1 - y) * Math.max(Math.log(1 - p), -100);
    store<f32>(grad + offset, <f32>((p - y) / Math.max(p * (1 - p), 1e-12) * inverseN));
  }
  return loss * inverseN;
}

/** Loss = mean of max(z,0) − z·y + log(1 + e^−|z|), stable for any z; grad = (σ(z) − y)/n.  "=" */
export function bce_with_logits(grad: usize, logits: usize, targets: usize, n: i32): f64 {
  const inverseN: f32 = 1 / <f32>n;
  const inverseNs = f32x4.splat(inverseN);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    const delta = f32x4.sub(vsigmoid(v128.load(logits + offset)), v128.load(targets + offset));
    v128.store(grad + offset, f32x4.mul(delta, inverseNs));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    const s = lane0(vsigmoid(f32x4.splat(load<f32>(logits + offset))));
    store<f32>(grad + offset, (s - load<f32>(targets + offset)) * inverseN);
  }
  let loss: f64 = 0;
  for (i = 0; i < n; i++) {
    const offset = <usize>i << 2;
    const z = <f64>load<f32>(logits + offset);
    loss += Math.max(z, 0) - z * <f64>load<f32>(targets + offset) + Math.log1p(Math.exp(-Math.abs(z)));
  }
  return loss / <f64>n;
}
