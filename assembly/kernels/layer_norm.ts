// Layer normalization over the last axis of a row-major [rows × cols] float32 matrix, as PyTorch's
// LayerNorm: gamma and beta are [cols]; the forward saves each row's mean and rstd [rows] for the backward.
import { ACCUMULATE, finishScalar, finishVector, WRITE } from './finish';
import { horizontalSum, laneSums } from './vmath';

// Σ x over one row (laneSums' order).
@inline function rowSum(x: usize, cols: i32): f32 {
  let total = horizontalSum(laneSums(x, cols));
  for (let j = cols & ~3; j < cols; j++) total += load<f32>(x + (<usize>j << 2));
  return total;
}

// Σ (x − mean)² over one row, in the same order as rowSum.
@inline function centeredSquares(x: usize, cols: i32, mean: f32): f32 {
  const means = f32x4.splat(mean);
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let j = 0;
  for (; j + 16 <= cols; j += 16) {
    const p = x + (<usize>j << 2);
    const d0 = f32x4.sub(v128.load(p), means);
    const d1 = f32x4.sub(v128.load(p, 16), means);
    const d2 = f32x4.sub(v128.load(p, 32), means);
    const d3 = f32x4.sub(v128.load(p, 48), means);
    s0 = f32x4.add(s0, f32x4.mul(d0, d0));
    s1 = f32x4.add(s1, f32x4.mul(d1, d1));
    s2 = f32x4.add(s2, f32x4.mul(d2, d2));
    s3 = f32x4.add(s3, f32x4.mul(d3, d3));
  }
  for (; j + 4 <= cols; j += 4) {
    const d = f32x4.sub(v128.load(x + (<usize>j << 2)), means);
    s0 = f32x4.add(s0, f32x4.mul(d, d));
  }
  let total = horizontalSum(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)));
  for (; j < cols; j++) {
    const d = load<f32>(x + (<usize>j << 2)) - mean;
    total += d * d;
  }
  return total;
}

// The forward for one choice of affine parameters (constants where it is inlined): the tests of
// gamma and beta stay out of the loop, as in sgd_update.
@inline function forwardRows(
  out: usize, mean: usize, rstd: usize, x: usize, gamma: usize, beta: usize, rows: i32, cols: i32, eps: f32,
  scaled: bool, shifted: bool,
): void {
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const xRow = x + <usize>r * rowBytes;
    const outRow = out + <usize>r * rowBytes;
    // The mean first, then the squares about it: Σx² − (Σx)²/cols would cancel when |mean| ≫ std.
    const rowMean = rowSum(xRow, cols) / <f32>cols;
    const rowRstd: f32 = 1 / Mathf.sqrt(centeredSquares(xRow, cols, rowMean) / <f32>cols + eps);
    store<f32>(mean + (<usize>r << 2), rowMean);
    store<f32>(rstd + (<usize>r << 2), rowRstd);
    const means = f32x4.splat(rowMean);
    const rstds = f32x4.splat(rowRstd);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const column = <usize>j << 2;
      let v = f32x4.mul(f32x4.sub(v128.load(xRow + column), means), rstds);
      if (scaled) v = f32x4.mul(v, v128.load(gamma + column));
      if (shifted) v = f32x4.add(v, v128.load(beta + column));
      v128.store(outRow + column, v);
    }
    for (; j < cols; j++) {
      const column = <usize>j << 2;
      let v = (load<f32>(xRow + column) - rowMean) * rowRstd;
      if (scaled) v *= load<f32>(gamma + column);
      if (shifted) v += load<f32>(beta + column);
      store<f32>(outRow + column, v);
    }
  }
}

/**
 * PyTorch's LayerNorm over each row of x[rows × cols]: mean[r] = Σⱼ x/cols, rstd[r] = 1/√(Σⱼ (x − mean)²/cols + eps)
 * (the biased variance), out = (x − mean)·rstd·gamma + beta, gamma and beta [cols]; gamma 0 means none
 * (1), beta 0 none (0). The mean is taken first, then the squares about it (two passes, for stability),
 * then out is written. out may alias x; mean and rstd [rows] are saved for layer_norm_backward.  "="
 */
export function layer_norm_forward(
  out: usize, mean: usize, rstd: usize, x: usize, gamma: usize, beta: usize, rows: i32, cols: i32, eps: f32,
): void {
  if (gamma != 0) {
    if (beta != 0) forwardRows(out, mean, rstd, x, gamma, beta, rows, cols, eps, true, true);
    else forwardRows(out, mean, rstd, x, gamma, beta, rows, cols, eps, true, false);
  } else {
    if (beta != 0) forwardRows(out, mean, rstd, x, gamma, beta, rows, cols, eps, false, true);
    else forwardRows(out, mean, rstd, x, gamma, beta, rows, cols, eps, false, false);
  }
}

// dx for one choice of gamma (none or given) and of accumulating (constants where it is inlined): per
// row, Σg and Σg·x̂ in one pass, then dx = rstd·((g − mean g) − x̂·mean(g·x̂)) in a second.
@inline function inputGradientRows(
  dx: usize, dout: usize, x: usize, gamma: usize, mean: usize, rstd: usize, rows: i32, cols: i32,
  scaled: bool, accumulate: bool,
): void {
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const rowOffset = <usize>r * rowBytes;
    const doutRow = dout + rowOffset;
    const xRow = x + rowOffset;
    const dxRow = dx + rowOffset;
    const rowMean = load<f32>(mean + (<usize>r << 2));
    const rowRstd = load<f32>(rstd + (<usize>r << 2));
    const means = f32x4.splat(rowMean);
    const rstds = f32x4.splat(rowRstd);
    // Σg in g0, g1 and Σg·x̂ in h0, h1: eight floats a step in four chains of adds.
    let g0 = f32x4.splat(0), g1 = f32x4.splat(0), h0 = f32x4.splat(0), h1 = f32x4.splat(0);
    let j = 0;
    for (; j + 8 <= cols; j += 8) {
      const column = <usize>j << 2;
      let ga = v128.load(doutRow + column);
      let gb = v128.load(doutRow + column, 16);
      if (scaled) {
        ga = f32x4.mul(ga, v128.load(gamma + column));
        gb = f32x4.mul(gb, v128.load(gamma + column, 16));
      }
      const xa = f32x4.mul(f32x4.sub(v128.load(xRow + column), means), rstds);
      const xb = f32x4.mul(f32x4.sub(v128.load(xRow + column, 16), means), rstds);
      g0 = f32x4.add(g0, ga);
      g1 = f32x4.add(g1, gb);
      h0 = f32x4.add(h0, f32x4.mul(ga, xa));
      h1 = f32x4.add(h1, f32x4.mul(gb, xb));
    }
    if (j + 4 <= cols) {
      const column = <usize>j << 2;
      let g = v128.load(doutRow + column);
      if (scaled) g = f32x4.mul(g, v128.load(gamma + column));
      g0 = f32x4.add(g0, g);
      h0 = f32x4.add(h0, f32x4.mul(g, f32x4.mul(f32x4.sub(v128.load(xRow + column), means), rstds)));
      j += 4;
    }
    let gSum = horizontalSum(f32x4.add(g0, g1));
    let ghSum = horizontalSum(f32x4.add(h0, h1));
    for (; j < cols; j++) {
      const column = <usize>j << 2;
      let g = load<f32>(doutRow + column);
      if (scaled) g *= load<f32>(gamma + column);
      gSum += g;
      ghSum += g * ((load<f32>(xRow + column) - rowMean) * rowRstd);
    }
    const gMean = gSum / <f32>cols;
    const ghMean = ghSum / <f32>cols;
    const gMeans = f32x4.splat(gMean);
    const ghMeans = f32x4.splat(ghMean);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const column = <usize>j << 2;
      let g = v128.load(doutRow + column);
      if (scaled) g = f32x4.mul(g, v128.load(gamma + column));
      const normalized = f32x4.mul(f32x4.sub(v128.load(xRow + column), means), rstds);
      let v = f32x4.mul(rstds, f32x4.sub(f32x4.sub(g, gMeans), f32x4.mul(normalized, ghMeans)));
      if (accumulate) v = f32x4.add(v128.load(dxRow + column), v);
      v128.store(dxRow + column, v);
    }
    for (; j < cols; j++) {
      const column = <usize>j << 2;
      let g = load<f32>(doutRow + column);
      if (scaled) g *= load<f32>(gamma + column);
      const normalized = (load<f32>(xRow + column) - rowMean) * rowRstd;
      let v = rowRstd * ((g - gMean) - normalized * ghMean);
      if (accumulate) v = load<f32>(dxRow + column) + v;
      store<f32>(dxRow + column, v);
    }
  }
}

// dgamma (mode) Σ_rows dout·x̂ and dbeta (mode) Σ_rows dout, each skipped when 0: eight columns at a
// time down the rows, 0 … rows − 1 in order in every lane, each sum finished before it is stored.
function parameterGradients(
  dgamma: usize, dbeta: usize, dout: usize, x: usize, mean: usize, rstd: usize, rows: i32, cols: i32, mode: i32,
): void {
  const rowBytes = <usize>cols << 2;
  let j = 0;
  for (; j + 8 <= cols; j += 8) {
    const column = <usize>j << 2;
    let gamma0 = f32x4.splat(0), gamma1 = f32x4.splat(0), beta0 = f32x4.splat(0), beta1 = f32x4.splat(0);
    for (let r = 0; r < rows; r++) {
      const at = <usize>r * rowBytes + column;
      const means = v128.load32_splat(mean + (<usize>r << 2));
      const rstds = v128.load32_splat(rstd + (<usize>r << 2));
      const da = v128.load(dout + at);
      const db = v128.load(dout + at, 16);
      gamma0 = f32x4.add(gamma0, f32x4.mul(da, f32x4.mul(f32x4.sub(v128.load(x + at), means), rstds)));
      gamma1 = f32x4.add(gamma1, f32x4.mul(db, f32x4.mul(f32x4.sub(v128.load(x + at, 16), means), rstds)));
      beta0 = f32x4.add(beta0, da);
      beta1 = f32x4.add(beta1, db);
    }
    if (dgamma != 0) {
      finishVector(mode, dgamma + column, gamma0);
      finishVector(mode, dgamma + column + 16, gamma1);
    }
    if (dbeta != 0) {
      finishVector(mode, dbeta + column, beta0);
      finishVector(mode, dbeta + column + 16, beta1);
    }
  }
  if (j + 4 <= cols) {
    const column = <usize>j << 2;
    let gammas = f32x4.splat(0), betas = f32x4.splat(0);
    for (let r = 0; r < rows; r++) {
      const at = <usize>r * rowBytes + column;
      const d = v128.load(dout + at);
      const normalized = f32x4.mul(f32x4.sub(v128.load(x + at), v128.load32_splat(mean + (<usize>r << 2))), v128.load32_splat(rstd + (<usize>r << 2)));
      gammas = f32x4.add(gammas, f32x4.mul(d, normalized));
      betas = f32x4.add(betas, d);
    }
    if (dgamma != 0) finishVector(mode, dgamma + column, gammas);
    if (dbeta != 0) finishVector(mode, dbeta + column, betas);
    j += 4;
  }
  for (; j < cols; j++) {
    const column = <usize>j << 2;
    let gammaSum: f32 = 0, betaSum: f32 = 0;
    for (let r = 0; r < rows; r++) {
      const at = <usize>r * rowBytes + column;
      const d = load<f32>(dout + at);
      gammaSum += d * ((load<f32>(x + at) - load<f32>(mean + (<usize>r << 2))) * load<f32>(rstd + (<usize>r << 2)));
      betaSum += d;
    }
    if (dgamma != 0) finishScalar(mode, dgamma + column, gammaSum);
    if (dbeta != 0) finishScalar(mode, dbeta + column, betaSum);
  }
}

/**
 * The gradients of layer_norm_forward from its saved mean and rstd: with x̂ = (x − mean)·rstd and
 * g = dout·gamma (dout when gamma is 0), dx = rstd·(g − meanⱼ(g) − x̂·meanⱼ(g·x̂)) per row, "+=" when
 * accumulateInput ≠ 0, else "="; dgamma[cols] = Σ_rows dout·x̂ and dbeta[cols] = Σ_rows dout, "+=" when
 * accumulateParams ≠ 0, else "=", each column summed over rows 0 … rows − 1 in order and finished
 * before it is added (the same gradient accumulated twice doubles exactly). dx, dgamma or dbeta 0
 * skips that output. dx must not overlap dout or x, which are read again after it is written.
 */
export function layer_norm_backward(
  dx: usize, dgamma: usize, dbeta: usize, dout: usize, x: usize, gamma: usize, mean: usize, rstd: usize,
  rows: i32, cols: i32, accumulateInput: i32, accumulateParams: i32,
): void {
  if (dx != 0) {
    if (gamma != 0) {
      if (accumulateInput != 0) inputGradientRows(dx, dout, x, gamma, mean, rstd, rows, cols, true, true);
      else inputGradientRows(dx, dout, x, gamma, mean, rstd, rows, cols, true, false);
    } else {
      if (accumulateInput != 0) inputGradientRows(dx, dout, x, gamma, mean, rstd, rows, cols, false, true);
      else inputGradientRows(dx, dout, x, gamma, mean, rstd, rows, cols, false, false);
    }
  }
  if (dgamma != 0 || dbeta != 0) {
    parameterGradients(dgamma, dbeta, dout, x, mean, rstd, rows, cols, accumulateParams != 0 ? ACCUMULATE : WRITE);
  }
}
