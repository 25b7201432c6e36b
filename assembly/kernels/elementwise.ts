// Elementwise passes over n contiguous float32 elements: fill, scale, axpy, copy; and copy_rows, a
// block of columns copied between row-major matrices of other widths.

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

// dst[0…n) = src[0…n), four floats at a time: a short row costs no call out of wasm, as memory.copy
// does in V8.
@inline export function copyRow(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    v128.store(dst + offset, v128.load(src + offset));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(dst + offset, load<f32>(src + offset));
  }
}

// dst[0…n) += src[0…n), four floats at a time.
@inline export function addRow(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    v128.store(dst + offset, f32x4.add(v128.load(dst + offset), v128.load(src + offset)));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(dst + offset, load<f32>(dst + offset) + load<f32>(src + offset));
  }
}

/**
 * dst[r·dstStride + c] = src[r·srcStride + c] for r < rows, c < cols (strides in elements), or += when
 * accumulate ≠ 0: a block of columns copied into or out of a wider matrix, as a concatenation's forward
 * and backward do. The two blocks must not overlap.  "=" or "+="
 */
export function copy_rows(dst: usize, dstStride: i32, src: usize, srcStride: i32, rows: i32, cols: i32, accumulate: i32): void {
  // Rows that follow each other in both matrices are one long row.
  if (dstStride == cols && srcStride == cols) {
    cols *= rows;
    rows = 1;
  }
  const dstRowBytes = <usize>dstStride << 2;
  const srcRowBytes = <usize>srcStride << 2;
  for (let r = 0; r < rows; r++) {
    const dstRow = dst + <usize>r * dstRowBytes;
    const srcRow = src + <usize>r * srcRowBytes;
    if (accumulate != 0) addRow(dstRow, srcRow, cols);
    else copyRow(dstRow, srcRow, cols);
  }
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
