// Batch normalization over the channels of a row-major [rows × channels] float32 matrix, channels last
// (rows = batch · positions), as PyTorch's BatchNorm1d/2d: a channel's statistics are a column's.
// gamma, beta, mean, rstd and the running statistics are [channels]; scratch holds float64 column sums.
import { ACCUMULATE, finishScalar, WRITE } from './finish';
import { Int32Ptr } from './pointers';
import { promoteHigh } from './vmath';

// sums[c] = Σ_rows x[r, c] in float64, rows 0 … rows − 1 in order (one fixed order), four channels a
// step as two f64x2: the sums of a large batch keep their low bits, the pass reads x once in order.
@inline function columnSums(sums: usize, x: usize, rows: i32, channels: i32): void {
  memory.fill(sums, 0, <usize>channels << 3);
  const rowBytes = <usize>channels << 2;
  for (let r = 0; r < rows; r++) {
    const row = x + <usize>r * rowBytes;
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const v = v128.load(row + (<usize>c << 2));
      const at = sums + (<usize>c << 3);
      v128.store(at, f64x2.add(v128.load(at), f64x2.promote_low_f32x4(v)));
      v128.store(at, f64x2.add(v128.load(at, 16), promoteHigh(v)), 16);
    }
    for (; c < channels; c++) {
      const at = sums + (<usize>c << 3);
      store<f64>(at, load<f64>(at) + <f64>load<f32>(row + (<usize>c << 2)));
    }
  }
}

// squares[c] = Σ_rows (x[r, c] − means[c])² in float64 about the float64 means: the second of two
// passes, since Σx² − (Σx)²/n cancels when |mean| ≫ std.
@inline function centeredSquares(squares: usize, means: usize, x: usize, rows: i32, channels: i32): void {
  memory.fill(squares, 0, <usize>channels << 3);
  const rowBytes = <usize>channels << 2;
  for (let r = 0; r < rows; r++) {
    const row = x + <usize>r * rowBytes;
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const v = v128.load(row + (<usize>c << 2));
      const at = squares + (<usize>c << 3);
      const low = f64x2.sub(f64x2.promote_low_f32x4(v), v128.load(means + (<usize>c << 3)));
      const high = f64x2.sub(promoteHigh(v), v128.load(means + (<usize>c << 3), 16));
      v128.store(at, f64x2.add(v128.load(at), f64x2.mul(low, low)));
      v128.store(at, f64x2.add(v128.load(at, 16), f64x2.mul(high, high)), 16);
    }
    for (; c < channels; c++) {
      const at = squares + (<usize>c << 3);
      const d = <f64>load<f32>(row + (<usize>c << 2)) - load<f64>(means + (<usize>c << 3));
      store<f64>(at, load<f64>(at) + d * d);
    }
  }
}

// out = (x − mean)·rstd·gamma + beta for one choice of affine (a constant where it is inlined), in
// float32 from the saved mean and rstd, so the backward's x̂ is the forward's.
@inline function normalizeRows(
  out: usize, x: usize, mean: usize, rstd: usize, gamma: usize, beta: usize, rows: i32, channels: i32, affine: bool,
): void {
  const rowBytes = <usize>channels << 2;
  for (let r = 0; r < rows; r++) {
    const xRow = x + <usize>r * rowBytes;
    const outRow = out + <usize>r * rowBytes;
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const column = <usize>c << 2;
      let v = f32x4.mul(f32x4.sub(v128.load(xRow + column), v128.load(mean + column)), v128.load(rstd + column));
      if (affine) v = f32x4.add(f32x4.mul(v, v128.load(gamma + column)), v128.load(beta + column));
      v128.store(outRow + column, v);
    }
    for (; c < channels; c++) {
      const column = <usize>c << 2;
      let v = (load<f32>(xRow + column) - load<f32>(mean + column)) * load<f32>(rstd + column);
      if (affine) v = v * load<f32>(gamma + column) + load<f32>(beta + column);
      store<f32>(outRow + column, v);
    }
  }
}

@inline function normalize(out: usize, x: usize, mean: usize, rstd: usize, gamma: usize, beta: usize, rows: i32, channels: i32): void {
  if (gamma != 0) normalizeRows(out, x, mean, rstd, gamma, beta, rows, channels, true);
  else normalizeRows(out, x, mean, rstd, gamma, beta, rows, channels, false);
}

/**
 * PyTorch's BatchNorm in training mode over x[rows × channels] (rows ≥ 2): per channel, in float64,
 * mean = Σ_rows x/rows and var = Σ_rows (x − mean)²/rows (two passes, the biased variance), saved as
 * float32 mean and rstd = 1/√(var + eps); out = (x − mean)·rstd·gamma + beta (gamma and beta both
 * given, or both 0: none). The running statistics move: runningMean = (1 − momentum)·runningMean +
 * momentum·mean, runningVar likewise with the unbiased var·rows/(rows − 1), and the int64 at
 * numBatchesTracked (0: none) gains 1. scratch: 16·channels bytes. out may alias x.  "="
 */
export function batch_norm_forward_train(
  out: usize, mean: usize, rstd: usize, runningMean: usize, runningVar: usize, numBatchesTracked: Int32Ptr,
  x: usize, gamma: usize, beta: usize, scratch: usize, rows: i32, channels: i32, eps: f64, momentum: f64,
): void {
  const means = scratch;
  const squares = scratch + (<usize>channels << 3);
  columnSums(means, x, rows, channels);
  const count = <f64>rows;
  for (let c = 0; c < channels; c++) store<f64>(means + (<usize>c << 3), load<f64>(means + (<usize>c << 3)) / count);
  centeredSquares(squares, means, x, rows, channels);
  const unbiased = count / (count - 1);
  for (let c = 0; c < channels; c++) {
    const column = <usize>c << 2;
    const channelMean = load<f64>(means + (<usize>c << 3));
    const variance = load<f64>(squares + (<usize>c << 3)) / count;
    store<f32>(mean + column, <f32>channelMean);
    store<f32>(rstd + column, <f32>(1 / Math.sqrt(variance + eps)));
    store<f32>(runningMean + column, <f32>((1 - momentum) * <f64>load<f32>(runningMean + column) + momentum * channelMean));
    store<f32>(runningVar + column, <f32>((1 - momentum) * <f64>load<f32>(runningVar + column) + momentum * variance * unbiased));
  }
  if (numBatchesTracked != 0) store<i64>(numBatchesTracked, load<i64>(numBatchesTracked) + 1);
  normalize(out, x, mean, rstd, gamma, beta, rows, channels);
}

/**
 * PyTorch's BatchNorm in eval mode: mean = runningMean and rstd = 1/√(runningVar + eps) (float64, then
 * float32) are saved for batch_norm_backward, and out = (x − mean)·rstd·gamma + beta over x[rows ×
 * channels] (gamma and beta both given, or both 0). The running statistics are read, not changed.
 * out may alias x.  "="
 */
export function batch_norm_forward_eval(
  out: usize, mean: usize, rstd: usize, x: usize, runningMean: usize, runningVar: usize, gamma: usize, beta: usize,
  rows: i32, channels: i32, eps: f64,
): void {
  for (let c = 0; c < channels; c++) {
    const column = <usize>c << 2;
    store<f32>(mean + column, load<f32>(runningMean + column));
    store<f32>(rstd + column, <f32>(1 / Math.sqrt(<f64>load<f32>(runningVar + column) + eps)));
  }
  normalize(out, x, mean, rstd, gamma, beta, rows, channels);
}

// doutSums[c] = Σ_rows dout and doutXhatSums[c] = Σ_rows dout·x̂, x̂ = (x − mean)·rstd, in float64 with
// rows in order (x̂ too in float64, from the float32 mean and rstd).
@inline function gradientSums(
  doutSums: usize, doutXhatSums: usize, dout: usize, x: usize, mean: usize, rstd: usize, rows: i32, channels: i32,
): void {
  memory.fill(doutSums, 0, <usize>channels << 4);
  const rowBytes = <usize>channels << 2;
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * rowBytes;
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const column = <usize>c << 2;
      const d = v128.load(dout + at + column);
      const v = v128.load(x + at + column);
      const m = v128.load(mean + column);
      const s = v128.load(rstd + column);
      const dLow = f64x2.promote_low_f32x4(d);
      const dHigh = promoteHigh(d);
      const xhatLow = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(v), f64x2.promote_low_f32x4(m)), f64x2.promote_low_f32x4(s));
      const xhatHigh = f64x2.mul(f64x2.sub(promoteHigh(v), promoteHigh(m)), promoteHigh(s));
      const g = doutSums + (<usize>c << 3);
      const h = doutXhatSums + (<usize>c << 3);
      v128.store(g, f64x2.add(v128.load(g), dLow));
      v128.store(g, f64x2.add(v128.load(g, 16), dHigh), 16);
      v128.store(h, f64x2.add(v128.load(h), f64x2.mul(dLow, xhatLow)));
      v128.store(h, f64x2.add(v128.load(h, 16), f64x2.mul(dHigh, xhatHigh)), 16);
    }
    for (; c < channels; c++) {
      const column = <usize>c << 2;
      const d = <f64>load<f32>(dout + at + column);
      const xhat = (<f64>load<f32>(x + at + column) - <f64>load<f32>(mean + column)) * <f64>load<f32>(rstd + column);
      const g = doutSums + (<usize>c << 3);
      const h = doutXhatSums + (<usize>c << 3);
      store<f64>(g, load<f64>(g) + d);
      store<f64>(h, load<f64>(h) + d * xhat);
    }
  }
}

// dx = scale·(dout − doutMean − x̂·doutXhatMean) per row (centered: batch statistics) or scale·dout
// (eval), "+=" when accumulating; the three per-channel float32 coefficients are at coefficients.
@inline function inputGradientRows(
  dx: usize, dout: usize, x: usize, mean: usize, rstd: usize, coefficients: usize, rows: i32, channels: i32,
  centered: bool, accumulate: bool,
): void {
  const scales = coefficients;
  const doutMeans = coefficients + (<usize>channels << 2);
  const doutXhatMeans = coefficients + (<usize>channels << 3);
  const rowBytes = <usize>channels << 2;
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * rowBytes;
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const column = <usize>c << 2;
      let g = v128.load(dout + at + column);
      if (centered) {
        const xhat = f32x4.mul(f32x4.sub(v128.load(x + at + column), v128.load(mean + column)), v128.load(rstd + column));
        g = f32x4.sub(f32x4.sub(g, v128.load(doutMeans + column)), f32x4.mul(xhat, v128.load(doutXhatMeans + column)));
      }
      let v = f32x4.mul(v128.load(scales + column), g);
      if (accumulate) v = f32x4.add(v128.load(dx + at + column), v);
      v128.store(dx + at + column, v);
    }
    for (; c < channels; c++) {
      const column = <usize>c << 2;
      let g = load<f32>(dout + at + column);
      if (centered) {
        const xhat = (load<f32>(x + at + column) - load<f32>(mean + column)) * load<f32>(rstd + column);
        g = (g - load<f32>(doutMeans + column)) - xhat * load<f32>(doutXhatMeans + column);
      }
      let v = load<f32>(scales + column) * g;
      if (accumulate) v = load<f32>(dx + at + column) + v;
      store<f32>(dx + at + column, v);
    }
  }
}

/**
 * The gradients of batch_norm_forward_train (batchStatistics ≠ 0) or batch_norm_forward_eval (0) from
 * their saved mean and rstd, over rows × channels: with x̂ = (x − mean)·rstd and the float64 column sums
 * Σdout and Σdout·x̂ (rows in order), dgamma = Σdout·x̂ and dbeta = Σdout, "+=" when accumulateParams ≠ 0,
 * else "="; dx = gamma·rstd·(dout − Σdout/rows − x̂·Σdout·x̂/rows) with batch statistics, gamma·rstd·dout
 * without (gamma 0: 1), "+=" when accumulateInput ≠ 0, else "=". dx, dgamma or dbeta 0 skips that
 * output. scratch: 28·channels bytes. dx must not overlap dout or x.
 */
export function batch_norm_backward(
  dx: usize, dgamma: usize, dbeta: usize, dout: usize, x: usize, gamma: usize, mean: usize, rstd: usize, scratch: usize,
  rows: i32, channels: i32, batchStatistics: i32, accumulateInput: i32, accumulateParams: i32,
): void {
  const doutSums = scratch;
  const doutXhatSums = scratch + (<usize>channels << 3);
  const coefficients = scratch + (<usize>channels << 4);
  const centered = batchStatistics != 0;
  if (dgamma != 0 || dbeta != 0 || (dx != 0 && centered)) {
    gradientSums(doutSums, doutXhatSums, dout, x, mean, rstd, rows, channels);
  }
  const mode = accumulateParams != 0 ? ACCUMULATE : WRITE;
  for (let c = 0; c < channels; c++) {
    const column = <usize>c << 2;
    const doutSum = load<f64>(doutSums + (<usize>c << 3));
    const doutXhatSum = load<f64>(doutXhatSums + (<usize>c << 3));
    if (dgamma != 0) finishScalar(mode, dgamma + column, <f32>doutXhatSum);
    if (dbeta != 0) finishScalar(mode, dbeta + column, <f32>doutSum);
    if (dx == 0) continue;
    const scale = gamma != 0 ? load<f32>(gamma + column) * load<f32>(rstd + column) : load<f32>(rstd + column);
    store<f32>(coefficients + column, scale);
    if (centered) {
      store<f32>(coefficients + (<usize>channels << 2) + column, <f32>(doutSum / <f64>rows));
      store<f32>(coefficients + (<usize>channels << 3) + column, <f32>(doutXhatSum / <f64>rows));
    }
  }
  if (dx == 0) return;
  if (centered) {
    if (accumulateInput != 0) inputGradientRows(dx, dout, x, mean, rstd, coefficients, rows, channels, true, true);
    else inputGradientRows(dx, dout, x, mean, rstd, coefficients, rows, channels, true, false);
  } else {
    if (accumulateInput != 0) inputGradientRows(dx, dout, x, mean, rstd, coefficients, rows, channels, false, true);
    else inputGradientRows(dx, dout, x, mean, rstd, coefficients, rows, channels, false, false);
  }
}
