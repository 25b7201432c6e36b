// Huber loss (PyTorch's HuberLoss, threshold delta) over n float32 elements: mean loss and its gradient.

/** Loss = mean of 0.5d² if |d| ≤ delta else delta(|d| − delta/2), d = p − y; grad = clamp(d, ±delta)/n.  "=" */
export function huber(grad: usize, pred: usize, targets: usize, n: i32, delta: f32): f64 {
  const inverseN: f32 = 1 / <f32>n;
  const inverseNs = f32x4.splat(inverseN);
  const deltas = f32x4.splat(delta);
  const negativeDeltas = f32x4.splat(-delta);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    const d = f32x4.sub(v128.load(pred + offset), v128.load(targets + offset));
    v128.store(grad + offset, f32x4.mul(f32x4.pmin(f32x4.pmax(d, negativeDeltas), deltas), inverseNs));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    const d = load<f32>(pred + offset) - load<f32>(targets + offset);
    store<f32>(grad + offset, min(max(d, -delta), delta) * inverseN);
  }
  let loss: f64 = 0;
  const limit = <f64>delta;
  for (i = 0; i < n; i++) {
    const offset = <usize>i << 2;
    const d = Math.abs(<f64>(load<f32>(pred + offset) - load<f32>(targets + offset)));
    loss += d <= limit ? 0.5 * d * d : limit * (d - 0.5 * limit);
  }
  return loss / <f64>n;
}
