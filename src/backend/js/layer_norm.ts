// LayerNorm twins over the last axis of a row-major [rows × cols] block at element indices of m, in
// the array's precision (double arithmetic; stored as m's elements); gamma and beta are [cols], −1 for none.
import type { Floats } from './floats.js';

/**
 * mean = Σx/cols, rstd = 1/√(Σ(x − mean)²/cols + eps), out = (x − mean)·rstd·gamma + beta per row; the
 * row's sums are taken before out is written, so out may alias x. eps is float32, as the kernel's.  "="
 */
export function layer_norm_forward(
  m: Floats, out: number, mean: number, rstd: number, x: number, gamma: number, beta: number, rows: number, cols: number, eps: number,
): void {
  const epsilon = Math.fround(eps);
  for (let r = 0; r < rows; r++) {
    const xRow = x + r * cols;
    const outRow = out + r * cols;
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += m[xRow + j];
    const rowMean = sum / cols;
    let squares = 0;
    for (let j = 0; j < cols; j++) {
      const d = m[xRow + j] - rowMean;
      squares += d * d;
    }
    const rowRstd = 1 / Math.sqrt(squares / cols + epsilon);
    m[mean + r] = rowMean;
    m[rstd + r] = rowRstd;
    for (let j = 0; j < cols; j++) {
      const scale = gamma < 0 ? 1 : m[gamma + j];
      const shift = beta < 0 ? 0 : m[beta + j];
      m[outRow + j] = (m[xRow + j] - rowMean) * rowRstd * scale + shift;
    }
  }
}

// The column sums of dgamma and dbeta, in double, finished before they are stored; grown, never per call.
let columnSums = new Float64Array(128);

/**
 * x̂ = (x − mean)·rstd, g = dout·gamma (dout without gamma): dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) per
 * row ("+=" when accumulateInput ≠ 0); dgamma = Σ_rows dout·x̂ and dbeta = Σ_rows dout, summed over rows
 * in order and then stored or added (accumulateParams ≠ 0). An output at −1 is skipped.  "=" or "+="
 */
export function layer_norm_backward(
  m: Floats, dx: number, dgamma: number, dbeta: number, dout: number, x: number, gamma: number, mean: number, rstd: number,
  rows: number, cols: number, accumulateInput: number, accumulateParams: number,
): void {
  if (columnSums.length < 2 * cols) columnSums = new Float64Array(2 * cols);
  // dgamma's sums at [0, cols), dbeta's at [cols, 2·cols): indices, not views (a view per call allocates).
  const sums = columnSums;
  sums.fill(0, 0, 2 * cols);
  for (let r = 0; r < rows; r++) {
    const offset = r * cols;
    const rowMean = m[mean + r];
    const rowRstd = m[rstd + r];
    let gSum = 0;
    let ghSum = 0;
    for (let j = 0; j < cols; j++) {
      const d = m[dout + offset + j];
      const normalized = (m[x + offset + j] - rowMean) * rowRstd;
      const g = gamma < 0 ? d : d * m[gamma + j];
      gSum += g;
      ghSum += g * normalized;
      sums[j] += d * normalized;
      sums[cols + j] += d;
    }
    if (dx < 0) continue;
    const gMean = gSum / cols;
    const ghMean = ghSum / cols;
    for (let j = 0; j < cols; j++) {
      const d = m[dout + offset + j];
      const normalized = (m[x + offset + j] - rowMean) * rowRstd;
      const g = gamma < 0 ? d : d * m[gamma + j];
      const value = rowRstd * (g - gMean - normalized * ghMean);
      m[dx + offset + j] = accumulateInput !== 0 ? m[dx + offset + j] + value : value;
    }
  }
  for (let j = 0; j < cols; j++) {
    if (dgamma >= 0) m[dgamma + j] = accumulateParams !== 0 ? m[dgamma + j] + sums[j] : sums[j];
    if (dbeta >= 0) m[dbeta + j] = accumulateParams !== 0 ? m[dbeta + j] + sums[cols + j] : sums[cols + j];
  }
}
