// GEMM for the three products of a dense layer, over row-major float32 matrices in linear memory:
// X·W (forward), dZ·Wᵀ (input gradient) and Xᵀ·dZ (weight gradient), with W stored [in × out].
//
// All three run one micro-kernel: a 4×8 block of the output in eight f32x4 accumulators; each step
// broadcasts one element of A per row (v128.load32_splat) and multiplies it into the two vectors of
// one row of a packed B panel. The right operand is packed first, 8 columns at a time, into a
// contiguous [K × 8] panel in the caller's scratch, so the inner loop reads B sequentially whatever
// its layout (row-major, or transposed for dZ·Wᵀ) and no power-of-two stride can alias in the L1
// cache. Eight accumulators is the measured optimum: with 2 B vectors, the splat and V8's
// temporaries, more than ~13 live v128 values spill and throughput halves (PERF-NOTES.md).
// Where relaxed SIMD is enabled at build time, multiply-add is one fused instruction.

import { dotColumns, rowVectors } from './gemm_narrow';

const PANEL: i32 = 8;
const PANEL_BYTES: usize = 32;
/** A row-major right operand of at most this many floats (32 KiB) is read in place, not packed. */
const DIRECT_FLOATS: i32 = 8192;

// Scratch a GEMM with inner dimension K needs (gemmScratchBytes in src/backend/kernels.ts):
// the packed [K × 8] panel, an 8-float bias panel and an 8-float edge row, (8K + 16)·4 bytes;
// gemm_tn also needs M·K floats after those for its transposed left operand.
@inline function panelScratchBytes(K: i32): usize {
  return (<usize>K * PANEL + 2 * PANEL) << 2;
}

// What a block of the output becomes: the product, the product plus the bias row, or the output plus
// the product. "+=" adds the finished sum, so accumulating the same product twice doubles it exactly.
const WRITE: i32 = 0;
const WRITE_WITH_BIAS: i32 = 1;
const ACCUMULATE: i32 = 2;

@inline function madd(acc: v128, a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

@inline function finishVector(mode: i32, output: usize, sum: v128): void {
  v128.store(output, mode == ACCUMULATE ? f32x4.add(v128.load(output), sum) : sum);
}

@inline function finishScalar(mode: i32, output: usize, sum: f32): void {
  store<f32>(output, mode == ACCUMULATE ? load<f32>(output) + sum : sum);
}

// panel[k][t] = b[k·N + j + t] for t < width, 0 beyond: columns j… of a row-major [K × N] matrix.
@inline function packRows(panel: usize, b: usize, K: i32, N: i32, j: i32, width: i32): void {
  const rowBytes = <usize>N << 2;
  let source = b + (<usize>j << 2);
  if (width == PANEL) {
    for (let k = 0; k < K; k++) {
      const target = panel + <usize>k * PANEL_BYTES;
      v128.store(target, v128.load(source));
      v128.store(target, v128.load(source, 16), 16);
      source += rowBytes;
    }
    return;
  }
  for (let k = 0; k < K; k++) {
    const target = panel + <usize>k * PANEL_BYTES;
    v128.store(target, f32x4.splat(0));
    v128.store(target, f32x4.splat(0), 16);
    for (let t = 0; t < width; t++) store<f32>(target + (<usize>t << 2), load<f32>(source + (<usize>t << 2)));
    source += rowBytes;
  }
}

// panel[k][t] = b[(j + t)·K + k] for t < width, 0 beyond: rows j… of a [N × K] matrix, transposed.
@inline function packTransposed(panel: usize, b: usize, K: i32, j: i32, width: i32): void {
  const rowBytes = <usize>K << 2;
  for (let t = 0; t < PANEL; t++) {
    const target = panel + (<usize>t << 2);
    if (t < width) {
      const source = b + <usize>(j + t) * rowBytes;
      for (let k = 0; k < K; k++) store<f32>(target + <usize>k * PANEL_BYTES, load<f32>(source + (<usize>k << 2)));
    } else {
      for (let k = 0; k < K; k++) store<f32>(target + <usize>k * PANEL_BYTES, 0);
    }
  }
}

// Writes a finished 8-wide row of sums: whole vectors when the panel is full, else `width` lanes
// through the edge tile.
@inline function finishRow(mode: i32, output: usize, low: v128, high: v128, width: i32, tile: usize): void {
  if (width == PANEL) {
    finishVector(mode, output, low);
    finishVector(mode, output + 16, high);
    return;
  }
  v128.store(tile, low);
  v128.store(tile, high, 16);
  for (let t = 0; t < width; t++) finishScalar(mode, output + (<usize>t << 2), load<f32>(tile + (<usize>t << 2)));
}

// out[M × N] (mode) A·B for B packed panel by panel. A's element (row r, inner k) sits at
// a + 4·(r·rowStride + k·innerStride); B is row-major [K × N], or [N × K] when `transposed`.
@inline function panelGemm(
  out: usize, a: usize, rowStride: i32, innerStride: i32, b: usize, transposed: bool, bias: usize,
  M: i32, K: i32, N: i32, mode: i32, scratch: usize,
): void {
  const panel = scratch;
  const biasPanel = scratch + <usize>K * PANEL_BYTES;
  const tile = biasPanel + PANEL_BYTES;
  const aStep = <usize>innerStride << 2;
  const aRowBytes = <usize>rowStride << 2;
  const rowBytes = <usize>N << 2;
  for (let j = 0; j < N; j += PANEL) {
    const width = min(PANEL, N - j);
    if (width <= 4) {
      narrowGemm(out, a, rowStride, innerStride, b, transposed, bias, M, K, N, j, width, mode, scratch);
      return;
    }
    // A row-major B small enough to stay in L1 is read in place (rows N floats apart): packing it
    // would cost more than it saves. Larger ones are packed so strides cannot alias in the cache.
    const direct = !transposed && width == PANEL && K * N <= DIRECT_FLOATS;
    const source = direct ? b + (<usize>j << 2) : panel;
    const sourceStride: usize = direct ? <usize>N << 2 : PANEL_BYTES;
    if (transposed) packTransposed(panel, b, K, j, width);
    else if (!direct) packRows(panel, b, K, N, j, width);
    let start0 = f32x4.splat(0);
    let start1 = f32x4.splat(0);
    if (mode == WRITE_WITH_BIAS) {
      packRows(biasPanel, bias, 1, N, j, width);
      start0 = v128.load(biasPanel);
      start1 = v128.load(biasPanel, 16);
    }
    const outColumn = out + (<usize>j << 2);
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      let c00 = start0, c01 = start1, c10 = start0, c11 = start1;
      let c20 = start0, c21 = start1, c30 = start0, c31 = start1;
      let ap = a + <usize>i * aRowBytes;
      let bp = source;
      for (let k = 0; k < K; k++) {
        const b0 = v128.load(bp);
        const b1 = v128.load(bp, 16);
        let s = v128.load32_splat(ap);
        c00 = madd(c00, s, b0);
        c01 = madd(c01, s, b1);
        s = v128.load32_splat(ap + aRowBytes);
        c10 = madd(c10, s, b0);
        c11 = madd(c11, s, b1);
        s = v128.load32_splat(ap + 2 * aRowBytes);
        c20 = madd(c20, s, b0);
        c21 = madd(c21, s, b1);
        s = v128.load32_splat(ap + 3 * aRowBytes);
        c30 = madd(c30, s, b0);
        c31 = madd(c31, s, b1);
        ap += aStep;
        bp += sourceStride;
      }
      const o = outColumn + <usize>i * rowBytes;
      finishRow(mode, o, c00, c01, width, tile);
      finishRow(mode, o + rowBytes, c10, c11, width, tile);
      finishRow(mode, o + 2 * rowBytes, c20, c21, width, tile);
      finishRow(mode, o + 3 * rowBytes, c30, c31, width, tile);
    }
    for (; i < M; i++) {
      let c0 = start0, c1 = start1;
      let ap = a + <usize>i * aRowBytes;
      let bp = source;
      for (let k = 0; k < K; k++) {
        const s = v128.load32_splat(ap);
        c0 = madd(c0, s, v128.load(bp));
        c1 = madd(c1, s, v128.load(bp, 16));
        ap += aStep;
        bp += sourceStride;
      }
      finishRow(mode, outColumn + <usize>i * rowBytes, c0, c1, width, tile);
    }
  }
}

// Columns [j, j + width) of the output for width ≤ 4 — an output layer of a few units, or the last
// columns of a wider one: a 4-wide panel and a 4×4 micro-kernel, so they are not computed, packed
// and discarded as part of an 8-wide panel.
@inline function narrowGemm(
  out: usize, a: usize, rowStride: i32, innerStride: i32, b: usize, transposed: bool, bias: usize,
  M: i32, K: i32, N: i32, j: i32, width: i32, mode: i32, scratch: usize,
): void {
  const panel = scratch;
  const tile = scratch + <usize>K * PANEL_BYTES + PANEL_BYTES;
  const aStep = <usize>innerStride << 2;
  const aRowBytes = <usize>rowStride << 2;
  const rowBytes = <usize>N << 2;
  // panel[k][t]: B's element (k, j + t) for t < width, 0 beyond — or B itself, read in place, where
  // its rows hold the 4 columns contiguously and it is small enough to stay in cache.
  const direct = !transposed && width == 4 && K * N <= DIRECT_FLOATS;
  const source = direct ? b + (<usize>j << 2) : panel;
  const sourceStride: usize = direct ? <usize>N << 2 : 16;
  for (let k = 0; k < K && !direct; k++) {
    const target = panel + (<usize>k << 4);
    v128.store(target, f32x4.splat(0));
    for (let t = 0; t < width; t++) {
      const column = <usize>(j + t);
      const element = transposed ? b + ((column * <usize>K + <usize>k) << 2) : b + ((<usize>k * <usize>N + column) << 2);
      store<f32>(target + (<usize>t << 2), load<f32>(element));
    }
  }
  let start = f32x4.splat(0);
  if (mode == WRITE_WITH_BIAS) {
    v128.store(tile, f32x4.splat(0));
    for (let t = 0; t < width; t++) store<f32>(tile + (<usize>t << 2), load<f32>(bias + (<usize>(j + t) << 2)));
    start = v128.load(tile);
  }
  const outColumn = out + (<usize>j << 2);
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    let c0 = start, c1 = start, c2 = start, c3 = start;
    let ap = a + <usize>i * aRowBytes;
    let bp = source;
    for (let k = 0; k < K; k++) {
      const b0 = v128.load(bp);
      c0 = madd(c0, v128.load32_splat(ap), b0);
      c1 = madd(c1, v128.load32_splat(ap + aRowBytes), b0);
      c2 = madd(c2, v128.load32_splat(ap + 2 * aRowBytes), b0);
      c3 = madd(c3, v128.load32_splat(ap + 3 * aRowBytes), b0);
      ap += aStep;
      bp += sourceStride;
    }
    const o = outColumn + <usize>i * rowBytes;
    finishNarrow(mode, o, c0, width, tile);
    finishNarrow(mode, o + rowBytes, c1, width, tile);
    finishNarrow(mode, o + 2 * rowBytes, c2, width, tile);
    finishNarrow(mode, o + 3 * rowBytes, c3, width, tile);
  }
  for (; i < M; i++) {
    let c0 = start;
    let ap = a + <usize>i * aRowBytes;
    let bp = source;
    for (let k = 0; k < K; k++) {
      c0 = madd(c0, v128.load32_splat(ap), v128.load(bp));
      ap += aStep;
      bp += sourceStride;
    }
    finishNarrow(mode, outColumn + <usize>i * rowBytes, c0, width, tile);
  }
}

@inline function finishNarrow(mode: i32, output: usize, sums: v128, width: i32, tile: usize): void {
  if (width == 4) {
    finishVector(mode, output, sums);
    return;
  }
  v128.store(tile, sums);
  for (let t = 0; t < width; t++) finishScalar(mode, output + (<usize>t << 2), load<f32>(tile + (<usize>t << 2)));
}

/** out[M×N] = x[M×K] · w[K×N] (+ bias[N] when bias ≠ 0).  "="  Every GEMM takes (8K + 16)·4 bytes of scratch. */
export function gemm_nn(out: usize, x: usize, w: usize, bias: usize, M: i32, K: i32, N: i32, scratch: usize): void {
  if (N < 4) {
    dotColumns(out, x, w, bias, M, K, N, scratch);
    return;
  }
  if (bias != 0) panelGemm(out, x, K, 1, w, false, bias, M, K, N, WRITE_WITH_BIAS, scratch);
  else panelGemm(out, x, K, 1, w, false, 0, M, K, N, WRITE, scratch);
}

/** out[M×N] = a[M×K] · b[N×K]ᵀ — the input gradient dX = dZ·Wᵀ with W stored [in × out].  "=" */
export function gemm_nt(out: usize, a: usize, b: usize, M: i32, K: i32, N: i32, scratch: usize): void {
  panelGemm(out, a, K, 1, b, true, 0, M, K, N, WRITE, scratch);
}

// rows[i][k] = a[k·lda + i] for i < M, k < K: the first M columns of a [K × lda] matrix as M rows.
// Columns of a layer's input are strided by lda floats; read as they are, a power-of-two lda makes
// every step of the inner loop hit the same L1 set (measured: 10 GFLOP/s at lda = 512, against 30).
@inline function transposeColumns(rows: usize, a: usize, M: i32, K: i32, lda: i32): void {
  const aRowBytes = <usize>lda << 2;
  const rowBytes = <usize>K << 2;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    let source = a + (<usize>i << 2);
    let target = rows + <usize>i * rowBytes;
    for (let k = 0; k < K; k++) {
      const column = v128.load(source);
      store<f32>(target, f32x4.extract_lane(column, 0));
      store<f32>(target + rowBytes, f32x4.extract_lane(column, 1));
      store<f32>(target + 2 * rowBytes, f32x4.extract_lane(column, 2));
      store<f32>(target + 3 * rowBytes, f32x4.extract_lane(column, 3));
      source += aRowBytes;
      target += 4;
    }
  }
  for (; i < M; i++) {
    let source = a + (<usize>i << 2);
    const target = rows + <usize>i * rowBytes;
    for (let k = 0; k < K; k++) {
      store<f32>(target + (<usize>k << 2), load<f32>(source));
      source += aRowBytes;
    }
  }
}

/**
 * out[M×N] += a[K×M]ᵀ · b[K×N] — the weight gradient dW += Xᵀ·dZ.  "+="  Rows of a are lda ≥ M floats
 * apart, so a block of output rows (columns of a) can be computed on its own, as threads do. Where
 * there are several panels of output columns, the columns are first transposed into rows in scratch,
 * then multiplied like X·W.
 */
export function gemm_tn(out: usize, a: usize, b: usize, M: i32, K: i32, N: i32, lda: i32, scratch: usize): void {
  if (N < 4) {
    rowVectors(out, a, b, M, K, N, lda);
    return;
  }
  // With one panel of output columns each element of a is read once: the copy would not pay.
  if (N <= PANEL) {
    panelGemm(out, a, 1, lda, b, false, 0, M, K, N, ACCUMULATE, scratch);
    return;
  }
  const rows = scratch + panelScratchBytes(K);
  transposeColumns(rows, a, M, K, lda);
  panelGemm(out, rows, K, 1, b, false, 0, M, K, N, ACCUMULATE, scratch);
}
