// GEMM for the three products of a dense layer, over row-major float32 matrices in linear memory:
// X·W (forward), dZ·Wᵀ (input gradient) and Xᵀ·dZ (weight gradient), with W stored [in × out].
//
// All three run one micro-kernel: a 4×8 block of the output in eight
// f32x4 accumulators; each step broadcasts one element of A per row (v128.load32_splat) and
// multiplies it into the two vectors of one row of a packed B panel. Both operands are packed into
// the caller's scratch, so the inner loop reads two sequential streams whatever the layout:
// - B, 8 columns at a time, into a contiguous [K × 8] panel (row-major, or transposed for dZ·Wᵀ), so
//   no power-of-two stride can alias in the L1 cache. A row-major panel is packed by the first tile
//   that reads it, as it computes;
// - A, up to ROW_BLOCK rows at a time, in groups of 4 rows interleaved by k ([K × 4] per group), so
//   the 4 splats of one step read one 16-byte line at constant offsets from one pointer. Without it
//   V8 spends an address computation per row per step, and the loop is bound by instructions issued,
//   not by the multiply and add pipes (measured: packing A made each product 10–15% faster).
// Eight accumulators is the measured optimum: with 2 B vectors, the splat and the product of
// f32x4.mul, 12 accumulators need 16 v128 registers and V8 gives wasm 15; they spill (PERF-NOTES.md).
// Where relaxed SIMD is enabled at build time, multiply-add is one fused instruction.
//
// Every output element is one chain acc = start; acc = acc + A[i][k]·B[k][j] for k = 0…K−1, in the
// 4-row tile, the 1-row tail kernel and the narrow kernel alike: a row gets bit-identical sums
// whichever kernel computes it, so any split of the rows between threads gives the same result.
// Outputs fewer than 4 columns wide go to gemm_narrow.ts, whose sums are also the same for every row.

import { ACCUMULATE, finishPair, finishScalar, finishVector, WRITE, WRITE_WITH_BIAS } from './finish';
import { dotColumns, rowVectors, smallGemm } from './gemm_narrow';

/** Products of at most this many multiply-adds run in place (gemm_narrow.ts smallGemm), unpacked. */
const SMALL_MACS: i32 = 16384;

export const PANEL: i32 = 8;
export const PANEL_BYTES: usize = 32;
/** A row-major right operand of at most this many floats (32 KiB) is read in place, not packed. */
export const DIRECT_FLOATS: i32 = 8192;

// Rows of A packed at a time. The block (ROW_BLOCK × K floats, 512 KiB at K = 1024) stays in L2 while
// every panel of B passes over it; B's panels are packed again for each block, a cost of about
// 1/ROW_BLOCK of the multiply-adds. Measured against 32, 64 and 256 rows: 64 is 3–5% slower at
// n ≥ 512, 256 no faster.
export const ROW_BLOCK: i32 = 128;

// Scratch a GEMM with inner dimension K needs (gemmScratchBytes in src/backend/kernels.ts): the
// packed [K × 8] panel, an 8-float bias panel, an 8-float edge row, then the packed block of A,
// min(M rounded up to 4, ROW_BLOCK) × K floats.


@inline export function madd(acc: v128, a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

// panel[k][t] = b[k·N + j + t] for t < width, 0 beyond: columns j… of a row-major [K × N] matrix.
@inline export function packRows(panel: usize, b: usize, K: i32, N: i32, j: i32, width: i32): void {
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

// A 4×4 transpose: rows r0…r3 each hold 4 consecutive k of one row; the 4 stores, lineBytes apart,
// each hold one k of the 4 rows — the line a splat or panel step reads.
@inline export function storeTransposed(target: usize, lineBytes: usize, r0: v128, r1: v128, r2: v128, r3: v128): void {
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(target, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(target + lineBytes, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(target + 2 * lineBytes, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(target + 3 * lineBytes, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

// panel[k][t] = b[(j + t)·K + k] for t < width, 0 beyond: rows j… of a [N × K] matrix, transposed
// 4×4 at a time for a full panel.
@inline export function packTransposed(panel: usize, b: usize, K: i32, j: i32, width: i32): void {
  const rowBytes = <usize>K << 2;
  if (width == PANEL) {
    const source = b + <usize>j * rowBytes;
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const s = source + (<usize>k << 2);
      const target = panel + <usize>k * PANEL_BYTES;
      storeTransposed(target, PANEL_BYTES, v128.load(s), v128.load(s + rowBytes), v128.load(s + 2 * rowBytes), v128.load(s + 3 * rowBytes));
      const h = s + 4 * rowBytes;
      storeTransposed(target + 16, PANEL_BYTES, v128.load(h), v128.load(h + rowBytes), v128.load(h + 2 * rowBytes), v128.load(h + 3 * rowBytes));
    }
    for (; k < K; k++) {
      const target = panel + <usize>k * PANEL_BYTES;
      for (let t = 0; t < PANEL; t++) store<f32>(target + (<usize>t << 2), load<f32>(source + <usize>t * rowBytes + (<usize>k << 2)));
    }
    return;
  }
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

// Writes a finished 8-wide row of sums: whole vectors when the panel is full (or 4 + 2 lanes for 6
// columns, as LeNet's convolutions have), else `width` lanes through the edge tile.
@inline export function finishRow(mode: i32, output: usize, low: v128, high: v128, width: i32, tile: usize): void {
  if (width == PANEL) {
    finishVector(mode, output, low);
    finishVector(mode, output + 16, high);
    return;
  }
  if (width == 6) {
    finishVector(mode, output, low);
    finishPair(mode, output + 16, high);
    return;
  }
  v128.store(tile, low);
  v128.store(tile, high, 16);
  for (let t = 0; t < width; t++) finishScalar(mode, output + (<usize>t << 2), load<f32>(tile + (<usize>t << 2)));
}

// block[g][k][r] = A's element (first + 4g + r, k): rows of A in groups of 4, interleaved so that the
// micro-kernel splats the 4 rows' elements of one k from one 16-byte line at constant offsets.
// A's element (row r, inner k) sits at a + 4·(r·rowStride + k·innerStride); rows are contiguous
// (innerStride 1: X or dZ) or columns are (rowStride 1: Xᵀ). A last group of fewer than 4 rows
// leaves its unused lanes unwritten: the 1-row kernel reads only its own lane.
@inline function packRowBlock(block: usize, a: usize, rowStride: i32, innerStride: i32, rows: i32, K: i32): void {
  const groupBytes = <usize>K << 4;
  let r = 0;
  if (innerStride == 1) {
    const rowBytes = <usize>rowStride << 2;
    for (; r + 4 <= rows; r += 4) {
      let source = a + <usize>r * rowBytes;
      let target = block + <usize>(r >> 2) * groupBytes;
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        storeTransposed(target, 16, v128.load(source), v128.load(source + rowBytes), v128.load(source + 2 * rowBytes),
          v128.load(source + 3 * rowBytes));
        source += 16;
        target += 64;
      }
      for (; k < K; k++) {
        store<f32>(target, load<f32>(source));
        store<f32>(target, load<f32>(source + rowBytes), 4);
        store<f32>(target, load<f32>(source + 2 * rowBytes), 8);
        store<f32>(target, load<f32>(source + 3 * rowBytes), 12);
        source += 4;
        target += 16;
      }
    }
  } else {
    const innerBytes = <usize>innerStride << 2;
    for (; r + 4 <= rows; r += 4) {
      let source = a + (<usize>r << 2);
      let target = block + <usize>(r >> 2) * groupBytes;
      for (let k = 0; k < K; k++) {
        v128.store(target, v128.load(source));
        source += innerBytes;
        target += 16;
      }
    }
  }
  for (; r < rows; r++) {
    const target = block + <usize>(r >> 2) * groupBytes + (<usize>(r & 3) << 2);
    for (let k = 0; k < K; k++) {
      store<f32>(target + (<usize>k << 4), load<f32>(a + ((<usize>r * rowStride + <usize>k * innerStride) << 2)));
    }
  }
}

// Four rows × 8 columns of the output: the micro-kernel over one packed group of A (groupBytes from
// ap) and B's panel from bp, rows bStride bytes apart. With `pack` (a constant at each call) it also
// copies the 8 columns it reads into the packed panel at pp, for the tiles after it.
@inline export function tile4(
  mode: i32, o: usize, rowBytes: usize, ap: usize, groupBytes: usize, bp: usize, bStride: usize,
  pack: bool, pp: usize, start0: v128, start1: v128, width: i32, tile: usize,
): void {
  let c00 = start0, c01 = start1, c10 = start0, c11 = start1;
  let c20 = start0, c21 = start1, c30 = start0, c31 = start1;
  const end = ap + groupBytes;
  while (ap < end) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    if (pack) {
      v128.store(pp, b0);
      v128.store(pp, b1, 16);
      pp += PANEL_BYTES;
    }
    let s = v128.load32_splat(ap);
    c00 = madd(c00, s, b0);
    c01 = madd(c01, s, b1);
    s = v128.load32_splat(ap, 4);
    c10 = madd(c10, s, b0);
    c11 = madd(c11, s, b1);
    s = v128.load32_splat(ap, 8);
    c20 = madd(c20, s, b0);
    c21 = madd(c21, s, b1);
    s = v128.load32_splat(ap, 12);
    c30 = madd(c30, s, b0);
    c31 = madd(c31, s, b1);
    ap += 16;
    bp += bStride;
  }
  finishRow(mode, o, c00, c01, width, tile);
  finishRow(mode, o + rowBytes, c10, c11, width, tile);
  finishRow(mode, o + 2 * rowBytes, c20, c21, width, tile);
  finishRow(mode, o + 3 * rowBytes, c30, c31, width, tile);
}

// One row × 8 columns of the output, from lane ap of a packed group of A (the same chain of sums as
// tile4's rows).
@inline export function tile1(
  mode: i32, o: usize, ap: usize, groupBytes: usize, bp: usize, bStride: usize, start0: v128, start1: v128, width: i32, tile: usize,
): void {
  let c0 = start0, c1 = start1;
  const end = ap + groupBytes;
  while (ap < end) {
    const s = v128.load32_splat(ap);
    c0 = madd(c0, s, v128.load(bp));
    c1 = madd(c1, s, v128.load(bp, 16));
    ap += 16;
    bp += bStride;
  }
  finishRow(mode, o, c0, c1, width, tile);
}

// out[M × N] (mode) A·B. A's element (row r, inner k) sits at a + 4·(r·rowStride + k·innerStride);
// B is row-major [K × N], or [N × K] when `transposed`.
@inline function panelGemm(
  out: usize, a: usize, rowStride: i32, innerStride: i32, b: usize, transposed: bool, bias: usize,
  M: i32, K: i32, N: i32, mode: i32, scratch: usize,
): void {
  const panel = scratch;
  const biasPanel = scratch + <usize>K * PANEL_BYTES;
  const tile = biasPanel + PANEL_BYTES;
  const block = tile + PANEL_BYTES;
  const groupBytes = <usize>K << 4;
  const rowBytes = <usize>N << 2;
  for (let first = 0; first < M; first += ROW_BLOCK) {
    const rows = min(ROW_BLOCK, M - first);
    packRowBlock(block, a + ((<usize>first * rowStride) << 2), rowStride, innerStride, rows, K);
    const outBlock = out + <usize>first * rowBytes;
    for (let j = 0; j < N; j += PANEL) {
      const width = min(PANEL, N - j);
      if (width <= 4) {
        narrowGemm(outBlock, block, b, transposed, bias, rows, K, N, j, width, mode, scratch);
        break;
      }
      // A row-major B small enough to stay in L1 is read in place (rows N floats apart): packing it
      // would cost more than it saves. Larger ones are packed, and so are rows a multiple of 256
      // bytes apart: the panel's K lines then fall into a few of L1's sets and evict each other
      // (measured: 64×64×128 is 15% faster and 784×64×128 20% faster packed; 16×256×32 is 10% slower).
      const direct = !transposed && width == PANEL && K * N <= DIRECT_FLOATS && (N & 63) != 0;
      const source = direct ? b + (<usize>j << 2) : panel;
      const sourceStride: usize = direct ? <usize>N << 2 : PANEL_BYTES;
      // Any other full row-major panel is packed by the first 4-row tile as it reads B in place: one
      // pass over B's scattered rows instead of two (measured: 4–8% off X·W and Xᵀ·dZ at batch 64–128).
      const packFirst = !transposed && !direct && width == PANEL && rows >= 4;
      if (transposed) packTransposed(panel, b, K, j, width);
      else if (!direct && !packFirst) packRows(panel, b, K, N, j, width);
      let start0 = f32x4.splat(0);
      let start1 = f32x4.splat(0);
      if (mode == WRITE_WITH_BIAS) {
        packRows(biasPanel, bias, 1, N, j, width);
        start0 = v128.load(biasPanel);
        start1 = v128.load(biasPanel, 16);
      }
      const outColumn = outBlock + (<usize>j << 2);
      let i = 0;
      if (packFirst) {
        // B's rows are N floats apart, as the output's are (rowBytes).
        tile4(mode, outColumn, rowBytes, block, groupBytes, b + (<usize>j << 2), rowBytes, true, panel, start0, start1, width, tile);
        i = 4;
      }
      for (; i + 4 <= rows; i += 4) {
        const ap = block + <usize>(i >> 2) * groupBytes;
        tile4(mode, outColumn + <usize>i * rowBytes, rowBytes, ap, groupBytes, source, sourceStride, false, 0, start0, start1, width, tile);
      }
      for (; i < rows; i++) {
        tile1(mode, outColumn + <usize>i * rowBytes, block + <usize>(i >> 2) * groupBytes + (<usize>(i & 3) << 2), groupBytes, source, sourceStride, start0, start1, width, tile);
      }
    }
  }
}

// Columns [j, j + width) of the output for width ≤ 4 — an output layer of a few units, or the last
// columns of a wider one: a 4-wide panel and a 4×4 micro-kernel, so they are not computed, packed
// and discarded as part of an 8-wide panel. `block` holds `rows` rows of A packed by packRowBlock.
@inline function narrowGemm(
  out: usize, block: usize, b: usize, transposed: bool, bias: usize,
  rows: i32, K: i32, N: i32, j: i32, width: i32, mode: i32, scratch: usize,
): void {
  const panel = scratch;
  const tile = scratch + <usize>K * PANEL_BYTES + PANEL_BYTES;
  const groupBytes = <usize>K << 4;
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
  for (; i + 4 <= rows; i += 4) {
    let c0 = start, c1 = start, c2 = start, c3 = start;
    let ap = block + <usize>(i >> 2) * groupBytes;
    const end = ap + groupBytes;
    let bp = source;
    while (ap < end) {
      const b0 = v128.load(bp);
      c0 = madd(c0, v128.load32_splat(ap), b0);
      c1 = madd(c1, v128.load32_splat(ap, 4), b0);
      c2 = madd(c2, v128.load32_splat(ap, 8), b0);
      c3 = madd(c3, v128.load32_splat(ap, 12), b0);
      ap += 16;
      bp += sourceStride;
    }
    const o = outColumn + <usize>i * rowBytes;
    finishNarrow(mode, o, c0, width, tile);
    finishNarrow(mode, o + rowBytes, c1, width, tile);
    finishNarrow(mode, o + 2 * rowBytes, c2, width, tile);
    finishNarrow(mode, o + 3 * rowBytes, c3, width, tile);
  }
  for (; i < rows; i++) {
    let c0 = start;
    let ap = block + <usize>(i >> 2) * groupBytes + (<usize>(i & 3) << 2);
    const end = ap + groupBytes;
    let bp = source;
    while (ap < end) {
      c0 = madd(c0, v128.load32_splat(ap), v128.load(bp));
      ap += 16;
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

/** out[M×N] = x[M×K] · w[K×N] (+ bias[N] when bias ≠ 0).  "="  Every GEMM takes gemmScratchBytes(K, M) of scratch. */
export function gemm_nn(out: usize, x: usize, w: usize, bias: usize, M: i32, K: i32, N: i32, scratch: usize): void {
  if (N < 4) {
    dotColumns(out, x, w, bias, M, K, N, scratch);
    return;
  }
  if (M * K * N <= SMALL_MACS) {
    smallGemm(out, x, K, 1, w, N, bias, M, K, N, bias != 0 ? WRITE_WITH_BIAS : WRITE);
    return;
  }
  if (bias != 0) panelGemm(out, x, K, 1, w, false, bias, M, K, N, WRITE_WITH_BIAS, scratch);
  else panelGemm(out, x, K, 1, w, false, 0, M, K, N, WRITE, scratch);
}

/**
 * out[M×N] = a[M×K] · b[N×K]ᵀ — the input gradient dX = dZ·Wᵀ with W stored [in × out] — or, when
 * accumulate ≠ 0, out += the product (a tensor read by several layers sums their gradients; the finished
 * sum is added, so accumulating the same product twice doubles out exactly).  "=" or "+="
 */
export function gemm_nt(out: usize, a: usize, b: usize, M: i32, K: i32, N: i32, accumulate: i32, scratch: usize): void {
  // A small product with at most 8 outputs per row: b's transpose fits the panel's scratch. The mode is
  // a constant at each call, so the inlined loops are specialized rather than testing it per element.
  if (M * K * N <= SMALL_MACS && N <= PANEL) {
    for (let j = 0; j < N; j++) {
      for (let k = 0; k < K; k++) store<f32>(scratch + ((<usize>k * <usize>N + <usize>j) << 2), load<f32>(b + ((<usize>j * <usize>K + <usize>k) << 2)));
    }
    if (accumulate != 0) smallGemm(out, a, K, 1, scratch, N, 0, M, K, N, ACCUMULATE);
    else smallGemm(out, a, K, 1, scratch, N, 0, M, K, N, WRITE);
    return;
  }
  if (accumulate != 0) panelGemm(out, a, K, 1, b, true, 0, M, K, N, ACCUMULATE, scratch);
  else panelGemm(out, a, K, 1, b, true, 0, M, K, N, WRITE, scratch);
}

/**
 * out[M×N] += a[K×M]ᵀ · b[K×N] — the weight gradient dW += Xᵀ·dZ — when accumulate ≠ 0, else
 * out = the product (a step's gradient, with no zeroing before it).  "+=" or "="  Rows of a are lda ≥ M
 * floats apart, so a block of output rows (columns of a) can be computed on its own, as threads do.
 * Packing turns the columns of a into rows, 4 at a time (one 16-byte load per k), like X's rows for X·W.
 */
export function gemm_tn(out: usize, a: usize, b: usize, M: i32, K: i32, N: i32, lda: i32, accumulate: i32, scratch: usize): void {
  const mode = accumulate != 0 ? ACCUMULATE : WRITE;
  if (N < 4) {
    rowVectors(out, a, b, M, K, N, lda, mode);
    return;
  }
  if (M * K * N <= SMALL_MACS) {
    smallGemm(out, a, 1, lda, b, N, 0, M, K, N, mode);
    return;
  }
  if (accumulate != 0) panelGemm(out, a, 1, lda, b, false, 0, M, K, N, ACCUMULATE, scratch);
  else panelGemm(out, a, 1, lda, b, false, 0, M, K, N, WRITE, scratch);
}
