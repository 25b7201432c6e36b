// The mean of the output itself as a loss, with no targets: for a term the model computes, such as a
// VAE's KL divergence (PyTorch adds it to the loss by hand; Keras' add_loss).
import { accumulateF64, sumLanes } from './vmath';

/** Loss = mean of the n values, summed in float64; grad = 1/n everywhere.  "=" */
export function mean_loss(grad: usize, values: usize, n: i32): f64 {
  const share: f32 = <f32>(1.0 / <f64>n);
  const shares = f32x4.splat(share);
  let sums = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    sums = accumulateF64(sums, v128.load(values + offset));
    v128.store(grad + offset, shares);
  }
  let total = sumLanes(sums);
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    total += <f64>load<f32>(values + offset);
    store<f32>(grad + offset, share);
  }
  return total / <f64>n;
}
