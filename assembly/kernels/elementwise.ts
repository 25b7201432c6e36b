// Elementwise passes over n contiguous float32 elements: fill, scale, axpy, copy.

/** x = value.  "=" */
export function fill(x: usize, n: i32, value: f32): void {
  const values = f32x4.splat(value);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(x + (<usize>i << 2), values);
  for (; i < n; i++) store<f32>(x + (<usize>i << 2), value);
}

/** x *= s */
export function scale(x: usize, n: i32, s: f32): void {
  const factors = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    v128.store(x + offset, f32x4.mul(v128.load(x + offset), factors));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(x + offset, load<f32>(x + offset) * s);
  }
}

/** y += a·x */
export function axpy(y: usize, x: usize, n: i32, a: f32): void {
  const factors = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    v128.store(y + offset, f32x4.add(v128.load(y + offset), f32x4.mul(v128.load(x + offset), factors)));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(y + offset, load<f32>(y + offset) + load<f32>(x + offset) * a);
  }
}

/** dst = src (n elements; the ranges may overlap). */
export function copy(dst: usize, src: usize, n: i32): void {
  memory.copy(dst, src, <usize>n << 2);
}

/** x = min(max(x, low), high) elementwise (NaN stays NaN).  "=" */
export function clamp(x: usize, n: i32, low: f32, high: f32): void {
  const lows = f32x4.splat(low);
  const highs = f32x4.splat(high);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    v128.store(x + offset, f32x4.pmin(f32x4.pmax(v128.load(x + offset), lows), highs));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(x + offset, f32x4.extract_lane(f32x4.pmin(f32x4.pmax(f32x4.splat(load<f32>(x + offset)), lows), highs), 0));
  }
}
