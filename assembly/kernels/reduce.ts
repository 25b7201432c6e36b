// Reductions: the bias gradient (column sums), sums of squares for norms, and a finiteness count.
import { ACCUMULATE, finishScalar, finishVector, WRITE } from './finish';
import { scale } from './elementwise';
import { laneSums } from './vmath';

/**
 * db[cols] += Σ_rows dz[rows × cols] (accumulate ≠ 0), or db = the sums (accumulate = 0: a step's first
 * gradient, with no zeroing before it); 16 columns at a time in four accumulators. The finished sums
 * are added to db, so accumulating the same gradient twice doubles it exactly.  "+=" or "="
 */
export function bias_grad(db: usize, dz: usize, rows: i32, cols: i32, accumulate: i32): void {
  const mode = accumulate != 0 ? ACCUMULATE : WRITE;
  // One or two columns (a regression or binary head) are summed as one flat run of floats.
  if (cols <= 2) {
    narrowBiasGrad(db, dz, rows, cols, mode);
    return;
  }
  const rowBytes = <usize>cols << 2;
  let j = 0;
  for (; j + 16 <= cols; j += 16) {
    const column = <usize>j << 2;
    let s0 = f32x4.splat(0);
    let s1 = f32x4.splat(0);
    let s2 = f32x4.splat(0);
    let s3 = f32x4.splat(0);
    let p = dz + column;
    for (let r = 0; r < rows; r++) {
      s0 = f32x4.add(s0, v128.load(p));
      s1 = f32x4.add(s1, v128.load(p, 16));
      s2 = f32x4.add(s2, v128.load(p, 32));
      s3 = f32x4.add(s3, v128.load(p, 48));
      p += rowBytes;
    }
    finishVector(mode, db + column, s0);
    finishVector(mode, db + column + 16, s1);
    finishVector(mode, db + column + 32, s2);
    finishVector(mode, db + column + 48, s3);
  }
  for (; j + 4 <= cols; j += 4) finishVector(mode, db + (<usize>j << 2), fourColumnSums(dz + (<usize>j << 2), rows, rowBytes));
  if (j < cols && cols > 4) {
    // The last 1–3 columns as the last four (the lanes before them summed again, not stored): one
    // chain of adds per column down 50,000 rows (a 6-channel convolution's) took 40 µs.
    const s = fourColumnSums(dz + (<usize>(cols - 4) << 2), rows, rowBytes);
    const left = cols - j;
    if (left == 3) finishScalar(mode, db + (<usize>(cols - 3) << 2), f32x4.extract_lane(s, 1));
    if (left >= 2) finishScalar(mode, db + (<usize>(cols - 2) << 2), f32x4.extract_lane(s, 2));
    finishScalar(mode, db + (<usize>(cols - 1) << 2), f32x4.extract_lane(s, 3));
    return;
  }
  for (; j < cols; j++) {
    const column = <usize>j << 2;
    let s: f32 = 0;
    let p = dz + column;
    for (let r = 0; r < rows; r++) {
      s += load<f32>(p);
      p += rowBytes;
    }
    finishScalar(mode, db + column, s);
  }
}

// The sums down `rows` rows of the four columns at p: the rows in four sums by row mod 4, so the loop is
// not bound by one chain of dependent adds (a 4-unit layer's bias gradient over 100 rows: 93 ns as one chain).
@inline function fourColumnSums(p: usize, rows: i32, rowBytes: usize): v128 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let s2 = f32x4.splat(0);
  let s3 = f32x4.splat(0);
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    s0 = f32x4.add(s0, v128.load(p));
    s1 = f32x4.add(s1, v128.load(p + rowBytes));
    s2 = f32x4.add(s2, v128.load(p + 2 * rowBytes));
    s3 = f32x4.add(s3, v128.load(p + 3 * rowBytes));
    p += 4 * rowBytes;
  }
  for (; r < rows; r++) {
    s0 = f32x4.add(s0, v128.load(p));
    p += rowBytes;
  }
  return f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3));
}


// db[0…cols) (+)= column sums for cols ≤ 2: dz is rows·cols contiguous floats whose lanes repeat the
// columns (c0 c0 c0 c0, or c0 c1 c0 c1), summed in laneSums' four lanes.
function narrowBiasGrad(db: usize, dz: usize, rows: i32, cols: i32, mode: i32): void {
  const n = rows * cols;
  const s = laneSums(dz, n);
  let i = n & ~3;
  // Lanes 0 and 2 hold column 0 when cols is 2, every lane when it is 1.
  let first: f32 = f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 2);
  let second: f32 = f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 3);
  if (cols == 1) {
    first += second;
    second = 0;
  }
  for (; i < n; i += cols) {
    first += load<f32>(dz + (<usize>i << 2));
    if (cols == 2) second += load<f32>(dz + (<usize>i << 2), 4);
  }
  finishScalar(mode, db, first);
  if (cols == 2) finishScalar(mode, db + 4, second);
}

/** Σ x², each square widened to float64 before it is added. */
export function sum_squares(x: usize, n: i32): f64 {
  let sums = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    const low = f64x2.promote_low_f32x4(v);
    const high = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
    sums = f64x2.add(sums, f64x2.add(f64x2.mul(low, low), f64x2.mul(high, high)));
  }
  let total = f64x2.extract_lane(sums, 0) + f64x2.extract_lane(sums, 1);
  for (; i < n; i++) {
    const value = <f64>load<f32>(x + (<usize>i << 2));
    total += value * value;
  }
  return total;
}

/**
 * PyTorch's clip_grad_norm_ over n contiguous gradients: the L2 norm of all of them (sum_squares'
 * sum), and when maxNorm / (norm + 1e-6) < 1 every gradient scaled by it, in one call, so a step on the
 * tape clips without returning to JavaScript. Returns the norm before clipping.  in place
 */
export function clip_grad_norm(x: usize, n: i32, maxNorm: f64): f64 {
  const total = Math.sqrt(sum_squares(x, n));
  const factor = maxNorm / (total + 1e-6);
  if (factor < 1) scale(x, n, <f32>factor);
  return total;
}

/** How many of the n elements are NaN or ±Infinity: x − x is 0 exactly when x is finite. */
export function count_nonfinite(x: usize, n: i32): i32 {
  let count = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    const difference = f32x4.sub(v, v);
    count += <i32>popcnt(i32x4.bitmask(f32x4.ne(difference, difference)));
  }
  for (; i < n; i++) {
    const value = load<f32>(x + (<usize>i << 2));
    if (value - value != 0) count++;
  }
  return count;
}

/**
 * How many of the n elements lie outside [low, high] or are NaN: the checks on targets (probabilities
 * must lie in [0, 1]) as a count. An element counts unless low ≤ x ≤ high, which NaN never is.
 */
export function count_outside(x: usize, n: i32, low: f32, high: f32): i32 {
  const lows = f32x4.splat(low);
  const highs = f32x4.splat(high);
  let count = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    const inside = v128.and(f32x4.ge(v, lows), f32x4.le(v, highs));
    count += 4 - <i32>popcnt(i32x4.bitmask(inside));
  }
  for (; i < n; i++) {
    const value = load<f32>(x + (<usize>i << 2));
    if (!(value >= low && value <= high)) count++;
  }
  return count;
}
