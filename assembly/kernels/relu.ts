// ReLU over n contiguous float32 elements; the backward reads the forward's output a.
import { lane0 } from './vmath';

/** out = max(z, 0).  "=" */
export function relu_forward(out: usize, z: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    v128.store(out + offset, f32x4.max(v128.load(z + offset), zero));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(out + offset, lane0(f32x4.max(f32x4.splat(load<f32>(z + offset)), zero)));
  }
}

/** dz = da · (a > 0); dz may alias da.  "=" */
export function relu_backward(dz: usize, da: usize, a: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    v128.store(dz + offset, v128.and(v128.load(da + offset), f32x4.gt(v128.load(a + offset), zero)));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(dz + offset, load<f32>(a + offset) > 0 ? load<f32>(da + offset) : 0);
  }
}
