// BatchNorm twins over the channels of a row-major [rows × channels] block at element indices of m
// (channels last), in double arithmetic stored as m's elements; gamma and beta are [channels], −1 for none.
import type { Floats } from './floats.js';

// Per-channel sums in double, grown, never made per call: [0, C) and [C, 2C).
let channelSums = new Float64Array(128);

function sumsFor(channels: number): Float64Array {
  if (channelSums.length < 2 * channels) channelSums = new Float64Array(2 * channels);
  channelSums.fill(0, 0, 2 * channels);
  return channelSums;
}

// out = (x − mean)·rstd·gamma + beta from the mean and rstd as m holds them (so rounded as m's elements).
function normalize(m: Floats, out: number, x: number, mean: number, rstd: number, gamma: number, beta: number, rows: number, channels: number): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < channels; c++) {
      const i = r * channels + c;
      const normalized = (m[x + i] - m[mean + c]) * m[rstd + c];
      m[out + i] = gamma < 0 ? normalized : normalized * m[gamma + c] + m[beta + c];
    }
  }
}

/**
 * Training mode: mean = Σx/rows and var = Σ(x − mean)²/rows per channel (two passes), saved as mean
 * and rstd = 1/√(var + eps); the running statistics move by momentum (the variance unbiased by
 * rows/(rows − 1)) and the int64 counter (two int32 words, low first, at numBatchesTracked of ints;
 * index −1: none) gains 1; out = (x − mean)·rstd·gamma + beta. out may alias x.  "="
 */
export function batch_norm_forward_train(
  m: Floats, out: number, mean: number, rstd: number, runningMean: number, runningVar: number,
  ints: Int32Array, numBatchesTracked: number, x: number, gamma: number, beta: number, rows: number, channels: number,
  eps: number, momentum: number,
): void {
  const sums = sumsFor(channels);
  for (let r = 0; r < rows; r++) for (let c = 0; c < channels; c++) sums[c] += m[x + r * channels + c];
  for (let c = 0; c < channels; c++) sums[c] /= rows;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < channels; c++) {
      const d = m[x + r * channels + c] - sums[c];
      sums[channels + c] += d * d;
    }
  }
  for (let c = 0; c < channels; c++) {
    const variance = sums[channels + c] / rows;
    m[mean + c] = sums[c];
    m[rstd + c] = 1 / Math.sqrt(variance + eps);
    m[runningMean + c] = (1 - momentum) * m[runningMean + c] + momentum * sums[c];
    m[runningVar + c] = (1 - momentum) * m[runningVar + c] + momentum * variance * (rows / (rows - 1));
  }
  if (numBatchesTracked >= 0) {
    // The low word wraps into the high one, as the int64 it is.
    if (ints[numBatchesTracked] === -1) ints[numBatchesTracked + 1]++;
    ints[numBatchesTracked]++;
  }
  normalize(m, out, x, mean, rstd, gamma, beta, rows, channels);
}

/** Eval mode: mean = runningMean and rstd = 1/√(runningVar + eps) are saved, out = (x − mean)·rstd·gamma + beta.  "=" */
export function batch_norm_forward_eval(
  m: Floats, out: number, mean: number, rstd: number, x: number, runningMean: number, runningVar: number,
  gamma: number, beta: number, rows: number, channels: number, eps: number,
): void {
  for (let c = 0; c < channels; c++) {
    m[mean + c] = m[runningMean + c];
    m[rstd + c] = 1 / Math.sqrt(m[runningVar + c] + eps);
  }
  normalize(m, out, x, mean, rstd, gamma, beta, rows, channels);
}

/**
 * x̂ = (x − mean)·rstd: dgamma = Σdout·x̂, dbeta = Σdout over rows ("+=" when accumulateParams ≠ 0);
 * dx = gamma·rstd·(dout − Σdout/rows − x̂·Σdout·x̂/rows) with batch statistics, gamma·rstd·dout
 * without ("+=" when accumulateInput ≠ 0). An output at −1 is skipped.  "=" or "+="
 */
export function batch_norm_backward(
  m: Floats, dx: number, dgamma: number, dbeta: number, dout: number, x: number, gamma: number, mean: number, rstd: number,
  rows: number, channels: number, batchStatistics: number, accumulateInput: number, accumulateParams: number,
): void {
  const sums = sumsFor(channels);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < channels; c++) {
      const i = r * channels + c;
      // x̂ first, then its product with dout: the kernel's order, so the double sums agree bit for bit.
      const normalized = (m[x + i] - m[mean + c]) * m[rstd + c];
      sums[c] += m[dout + i];
      sums[channels + c] += m[dout + i] * normalized;
    }
  }
  for (let c = 0; c < channels; c++) {
    if (dgamma >= 0) m[dgamma + c] = accumulateParams !== 0 ? m[dgamma + c] + sums[channels + c] : sums[channels + c];
    if (dbeta >= 0) m[dbeta + c] = accumulateParams !== 0 ? m[dbeta + c] + sums[c] : sums[c];
  }
  if (dx < 0) return;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < channels; c++) {
      const i = r * channels + c;
      const scale = gamma < 0 ? m[rstd + c] : m[gamma + c] * m[rstd + c];
      let g = m[dout + i];
      if (batchStatistics !== 0) g = g - sums[c] / rows - (m[x + i] - m[mean + c]) * m[rstd + c] * (sums[channels + c] / rows);
      m[dx + i] = accumulateInput !== 0 ? m[dx + i] + scale * g : scale * g;
    }
  }
}
