// Mean squared error over n float32 elements: returns the mean loss and writes its gradient.

/** Loss = mean (p − y)²; grad = 2(p − y)/n.  "=" */
export function mse(grad: usize, pred: usize, targets: usize, n: i32): f64 {
  const scale: f32 = 2 / <f32>n;
  const scales = f32x4.splat(scale);
  let loss: f64 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    const d = f32x4.sub(v128.load(pred + offset), v128.load(targets + offset));
    v128.store(grad + offset, f32x4.mul(d, scales));
    const squares = f32x4.mul(d, d);
    loss += (<f64>f32x4.extract_lane(squares, 0) + <f64>f32x4.extract_lane(squares, 1))
      + (<f64>f32x4.extract_lane(squares, 2) + <f64>f32x4.extract_lane(squares, 3));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    const d = load<f32>(pred + offset) - load<f32>(targets + offset);
    store<f32>(grad + offset, d * scale);
    loss += <f64>(d * d);
  }
  return loss / <f64>n;
}
