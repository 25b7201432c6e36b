// Leaky ReLU with a negative-side slope over n contiguous float32 elements; the backward reads z.
import { lane0 } from './vmath';

@inline function leaky(z: v128, slope: v128): v128 {
  return v128.bitselect(z, f32x4.mul(z, slope), f32x4.gt(z, f32x4.splat(0)));
}

/** out = z > 0 ? z : slope·z.  "=" */
export function leaky_relu_forward(out: usize, z: usize, n: i32, slope: f32): void {
  const slopes = f32x4.splat(slope);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    v128.store(out + offset, leaky(v128.load(z + offset), slopes));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(out + offset, lane0(leaky(f32x4.splat(load<f32>(z + offset)), slopes)));
  }
}

/** dz = da · (z > 0 ? 1 : slope); dz may alias da.  "=" */
export function leaky_relu_backward(dz: usize, da: usize, z: usize, n: i32, slope: f32): void {
  const slopes = f32x4.splat(slope);
  const ones = f32x4.splat(1);
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    const derivative = v128.bitselect(ones, slopes, f32x4.gt(v128.load(z + offset), zero));
    v128.store(dz + offset, f32x4.mul(v128.load(da + offset), derivative));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(dz + offset, load<f32>(da + offset) * (load<f32>(z + offset) > 0 ? 1 : slope));
  }
}
