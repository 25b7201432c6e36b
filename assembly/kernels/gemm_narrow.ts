// GEMM for outputs fewer than 4 columns wide: a regression or binary head (N = 1), and the weight
// gradient of such a head. The packed-panel kernels of gemm.ts vectorize across output columns, so
// with N = 1 three of every four lanes they compute are thrown away. These vectorize along the other
// dimension instead:
// - X·W: each output is a dot product of a contiguous row of X with a column of W, 4 rows at a time,
//   4 elements of the row per step; the four row sums are reduced together by two shuffles.
// - Xᵀ·dZ: a row of X holds the inputs of one sample for all output rows: 4 output rows at a time,
//   one vector load of X and one splat of dZ per step.
// A row outside the blocks of 4 (the last M mod 4) goes through the same sums in the same order, so
// every output element has the same bits wherever a block starts, as the thread splits need.

import { finishScalar, finishVector, WRITE_WITH_BIAS } from './finish';

@inline function madd(acc: v128, a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

// (a0 + a2) + (a1 + a3) for each of the four accumulators, in lanes 0…3.
@inline function reduceFour(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const low = f32x4.add(v128.shuffle<f32>(s0, s1, 0, 4, 1, 5), v128.shuffle<f32>(s0, s1, 2, 6, 3, 7));
  const high = f32x4.add(v128.shuffle<f32>(s2, s3, 0, 4, 1, 5), v128.shuffle<f32>(s2, s3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(low, high, 0, 1, 4, 5), v128.shuffle<f32>(low, high, 2, 3, 6, 7));
}

// The same sum for one accumulator, in lane 0.
@inline function reduceOne(s: v128): v128 {
  const pairs = f32x4.add(s, v128.shuffle<f32>(s, s, 2, 3, 0, 1));
  return f32x4.add(pairs, v128.shuffle<f32>(pairs, pairs, 1, 0, 3, 2));
}

/**
 * out[M×N] = x[M×K]·w[K×N] (+ bias[N] when bias ≠ 0) for N < 4. For N > 1 the columns of w are first
 * copied into rows of scratch (N·K floats) so that every dot product reads both operands contiguously.
 */
export function dotColumns(out: usize, x: usize, w: usize, bias: usize, M: i32, K: i32, N: i32, scratch: usize): void {
  const kBytes = <usize>K << 2;
  let columns = w;
  if (N > 1) {
    for (let j = 0; j < N; j++) {
      for (let k = 0; k < K; k++) {
        store<f32>(scratch + <usize>j * kBytes + (<usize>k << 2), load<f32>(w + ((<usize>k * <usize>N + <usize>j) << 2)));
      }
    }
    columns = scratch;
  }
  const whole = K & ~3;
  const outRowBytes = <usize>N << 2;
  for (let j = 0; j < N; j++) {
    const column = columns + <usize>j * kBytes;
    const offset = f32x4.splat(bias != 0 ? load<f32>(bias + (<usize>j << 2)) : 0);
    const target = out + (<usize>j << 2);
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      const r0 = x + <usize>i * kBytes;
      const r1 = r0 + kBytes;
      const r2 = r1 + kBytes;
      const r3 = r2 + kBytes;
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
      for (let k = 0; k < whole; k += 4) {
        const at = <usize>k << 2;
        const wk = v128.load(column + at);
        s0 = madd(s0, v128.load(r0 + at), wk);
        s1 = madd(s1, v128.load(r1 + at), wk);
        s2 = madd(s2, v128.load(r2 + at), wk);
        s3 = madd(s3, v128.load(r3 + at), wk);
      }
      let sums = reduceFour(s0, s1, s2, s3);
      for (let k = whole; k < K; k++) {
        const at = <usize>k << 2;
        let lanes = v128.load32_splat(r0 + at);
        lanes = v128.load32_lane(r1 + at, lanes, 1);
        lanes = v128.load32_lane(r2 + at, lanes, 2);
        lanes = v128.load32_lane(r3 + at, lanes, 3);
        sums = madd(sums, lanes, v128.load32_splat(column + at));
      }
      if (bias != 0) sums = f32x4.add(sums, offset);
      const o = target + <usize>i * outRowBytes;
      if (N == 1) {
        v128.store(o, sums);
      } else {
        store<f32>(o, f32x4.extract_lane(sums, 0));
        store<f32>(o + outRowBytes, f32x4.extract_lane(sums, 1));
        store<f32>(o + 2 * outRowBytes, f32x4.extract_lane(sums, 2));
        store<f32>(o + 3 * outRowBytes, f32x4.extract_lane(sums, 3));
      }
    }
    for (; i < M; i++) {
      const row = x + <usize>i * kBytes;
      let s = f32x4.splat(0);
      for (let k = 0; k < whole; k += 4) s = madd(s, v128.load(row + (<usize>k << 2)), v128.load(column + (<usize>k << 2)));
      let sum = reduceOne(s);
      for (let k = whole; k < K; k++) {
        sum = madd(sum, v128.load32_splat(row + (<usize>k << 2)), v128.load32_splat(column + (<usize>k << 2)));
      }
      if (bias != 0) sum = f32x4.add(sum, offset);
      store<f32>(target + <usize>i * outRowBytes, f32x4.extract_lane(sum, 0));
    }
  }
}

// Output rows i…i+3, all `width` (2 or 3) columns: Σ_k a[k][i…i+3]·b[k][j], finished into out (mode). Each sum
// is two chains, even and odd k, added at the end: one chain of K dependent multiply-adds would bound
// the loop by their latency (a 4×100×1 weight gradient: 133 ns). One column (singleColumn) has four.
@inline function rowBlock(out: usize, a: usize, b: usize, K: i32, aRowBytes: usize, width: i32, mode: i32): void {
  const bRowBytes = <usize>width << 2;
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0);
  let d0 = f32x4.splat(0), d1 = f32x4.splat(0), d2 = f32x4.splat(0);
  let ap = a;
  let bp = b;
  let k = 0;
  for (; k + 2 <= K; k += 2) {
    const inputs = v128.load(ap);
    const next = v128.load(ap + aRowBytes);
    c0 = madd(c0, inputs, v128.load32_splat(bp));
    d0 = madd(d0, next, v128.load32_splat(bp + bRowBytes));
    if (width > 1) {
      c1 = madd(c1, inputs, v128.load32_splat(bp, 4));
      d1 = madd(d1, next, v128.load32_splat(bp + bRowBytes, 4));
    }
    if (width > 2) {
      c2 = madd(c2, inputs, v128.load32_splat(bp, 8));
      d2 = madd(d2, next, v128.load32_splat(bp + bRowBytes, 8));
    }
    ap += 2 * aRowBytes;
    bp += 2 * bRowBytes;
  }
  if (k < K) {
    const inputs = v128.load(ap);
    c0 = madd(c0, inputs, v128.load32_splat(bp));
    if (width > 1) c1 = madd(c1, inputs, v128.load32_splat(bp, 4));
    if (width > 2) c2 = madd(c2, inputs, v128.load32_splat(bp, 8));
  }
  c0 = f32x4.add(c0, d0);
  c1 = f32x4.add(c1, d1);
  c2 = f32x4.add(c2, d2);
  if (width == 1) {
    finishVector(mode, out, c0);
    return;
  }
  const outRowBytes = <usize>width << 2;
  finishColumn(mode, out, c0, outRowBytes);
  finishColumn(mode, out + 4, c1, outRowBytes);
  if (width > 2) finishColumn(mode, out + 8, c2, outRowBytes);
}

// rowBlock for one column (a regression or binary head's weight gradient) and `lanes` (4, or 1 for
// a last row alone) output rows: the sums in four chains, k mod 4, joined as (0 + 1) + (2 + 3). With
// no column loads to share, the loop has room for them, and they halve rowBlock's latency bound.
@inline function singleColumn(out: usize, a: usize, b: usize, K: i32, aRowBytes: usize, lanes: i32, mode: i32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let ap = a;
  let bp = b;
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    c0 = madd(c0, inputsAt(ap, lanes), v128.load32_splat(bp));
    c1 = madd(c1, inputsAt(ap + aRowBytes, lanes), v128.load32_splat(bp, 4));
    c2 = madd(c2, inputsAt(ap + 2 * aRowBytes, lanes), v128.load32_splat(bp, 8));
    c3 = madd(c3, inputsAt(ap + 3 * aRowBytes, lanes), v128.load32_splat(bp, 12));
    ap += 4 * aRowBytes;
    bp += 16;
  }
  // The last K mod 4 terms go to the chains their k gives them.
  if (k < K) c0 = madd(c0, inputsAt(ap, lanes), v128.load32_splat(bp));
  if (k + 1 < K) c1 = madd(c1, inputsAt(ap + aRowBytes, lanes), v128.load32_splat(bp, 4));
  if (k + 2 < K) c2 = madd(c2, inputsAt(ap + 2 * aRowBytes, lanes), v128.load32_splat(bp, 8));
  const sums = f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3));
  if (lanes == 4) finishVector(mode, out, sums);
  else finishScalar(mode, out, f32x4.extract_lane(sums, 0));
}

// Four consecutive inputs, or one (in lane 0) for a last row alone.
@inline function inputsAt(at: usize, lanes: i32): v128 {
  return lanes == 4 ? v128.load(at) : v128.load32_splat(at);
}

// out[r·stride] (mode) sums[r] for the four lanes.
@inline function finishColumn(mode: i32, out: usize, sums: v128, stride: usize): void {
  finishScalar(mode, out, f32x4.extract_lane(sums, 0));
  finishScalar(mode, out + stride, f32x4.extract_lane(sums, 1));
  finishScalar(mode, out + 2 * stride, f32x4.extract_lane(sums, 2));
  finishScalar(mode, out + 3 * stride, f32x4.extract_lane(sums, 3));
}

/**
 * out[M×N] (mode: WRITE "=" or ACCUMULATE "+=") a[K×M]ᵀ·b[K×N] for N < 4, rows of a lda floats apart: 4 output rows
 * per pass over K. The finished sums are written or added to out, as gemm_tn's contract says.
 */
export function rowVectors(out: usize, a: usize, b: usize, M: i32, K: i32, N: i32, lda: i32, mode: i32): void {
  const aRowBytes = <usize>lda << 2;
  const outRowBytes = <usize>N << 2;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const o = out + <usize>i * outRowBytes;
    const ai = a + (<usize>i << 2);
    if (N == 1) singleColumn(o, ai, b, K, aRowBytes, 4, mode);
    else if (N == 2) rowBlock(o, ai, b, K, aRowBytes, 2, mode);
    else rowBlock(o, ai, b, K, aRowBytes, 3, mode);
  }
  for (; i < M; i++) {
    if (N == 1) {
      singleColumn(out + <usize>i * outRowBytes, a + (<usize>i << 2), b, K, aRowBytes, 1, mode);
      continue;
    }
    for (let j = 0; j < N; j++) {
      // The same two chains as rowBlock's lanes.
      let sum = f32x4.splat(0);
      let odd = f32x4.splat(0);
      let ap = a + (<usize>i << 2);
      let bp = b + (<usize>j << 2);
      let k = 0;
      for (; k + 2 <= K; k += 2) {
        sum = madd(sum, v128.load32_splat(ap), v128.load32_splat(bp));
        odd = madd(odd, v128.load32_splat(ap + aRowBytes), v128.load32_splat(bp + outRowBytes));
        ap += 2 * aRowBytes;
        bp += 2 * outRowBytes;
      }
      if (k < K) sum = madd(sum, v128.load32_splat(ap), v128.load32_splat(bp));
      sum = f32x4.add(sum, odd);
      finishScalar(mode, out + <usize>i * outRowBytes + (<usize>j << 2), f32x4.extract_lane(sum, 0));
    }
  }
}

// Output row i, columns `first`…N−1 (the last N mod 4), one by one.
@inline function smallRow(
  oi: usize, ai: usize, aStep: usize, b: usize, bRowBytes: usize, bias: usize, K: i32, N: i32, first: i32, mode: i32,
): void {
  for (let j = first; j < N; j++) {
    const column = <usize>j << 2;
    let c = mode == WRITE_WITH_BIAS ? v128.load32_splat(bias + column) : f32x4.splat(0);
    let ap = ai;
    let bp = b + column;
    for (let k = 0; k < K; k++) {
      c = madd(c, v128.load32_splat(ap), v128.load32_splat(bp));
      ap += aStep;
      bp += bRowBytes;
    }
    const sum = f32x4.extract_lane(c, 0);
    finishScalar(mode, oi + column, sum);
  }
}

/**
 * out[M×N] (mode) A·B for products of a few thousand multiply-adds, read in place: A's element (i, k)
 * at a + 4·(i·rowStride + k·innerStride), B row-major with rows ldb floats apart. Packing would cost
 * more than such a product (a 2-4-1 network's are 400–800 multiply-adds). Four rows and four
 * columns at a time; each output element is the same chain as in the packed kernels — the start
 * (bias or 0), then + A[i][k]·B[k][j] for k = 0…K−1 — so its bits do not depend on the path.
 */
@inline export function smallGemm(
  out: usize, a: usize, rowStride: i32, innerStride: i32, b: usize, ldb: i32, bias: usize,
  M: i32, K: i32, N: i32, mode: i32,
): void {
  const aRowBytes = <usize>rowStride << 2;
  const aStep = <usize>innerStride << 2;
  const bRowBytes = <usize>ldb << 2;
  if (K <= 4 && (N == 4 || N == 8)) {
    fewInner(out, a, aRowBytes, aStep, b, bRowBytes, bias, M, K, N, mode);
    return;
  }
  const outRowBytes = <usize>N << 2;
  const wide = N & ~3;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    smallRows(out + <usize>i * outRowBytes, a + <usize>i * aRowBytes, aRowBytes, aStep, b, bRowBytes, outRowBytes, bias, K, N, wide, mode, 4);
  }
  // The last 1–3 rows side by side too: their chains are independent, so they overlap instead of
  // running one after another (a 2×100×4 weight gradient has only these rows).
  const left = M - i;
  if (left == 0) return;
  const a0 = a + <usize>i * aRowBytes;
  const o0 = out + <usize>i * outRowBytes;
  if (left == 1) smallRows(o0, a0, aRowBytes, aStep, b, bRowBytes, outRowBytes, bias, K, N, wide, mode, 1);
  else if (left == 2) smallRows(o0, a0, aRowBytes, aStep, b, bRowBytes, outRowBytes, bias, K, N, wide, mode, 2);
  else smallRows(o0, a0, aRowBytes, aStep, b, bRowBytes, outRowBytes, bias, K, N, wide, mode, 3);
}

// `count` (1–4) rows of smallGemm together, 4 columns at a time, then the columns past `wide` by row.
@inline function smallRows(
  o0: usize, a0: usize, aRowBytes: usize, aStep: usize, b: usize, bRowBytes: usize, outRowBytes: usize,
  bias: usize, K: i32, N: i32, wide: i32, mode: i32, count: i32,
): void {
  for (let j = 0; j < wide; j += 4) {
    const column = <usize>j << 2;
    const start = mode == WRITE_WITH_BIAS ? v128.load(bias + column) : f32x4.splat(0);
    let c0 = start, c1 = start, c2 = start, c3 = start;
    let ap = a0;
    let bp = b + column;
    for (let k = 0; k < K; k++) {
      const bk = v128.load(bp);
      c0 = madd(c0, v128.load32_splat(ap), bk);
      if (count > 1) c1 = madd(c1, v128.load32_splat(ap + aRowBytes), bk);
      if (count > 2) c2 = madd(c2, v128.load32_splat(ap + 2 * aRowBytes), bk);
      if (count > 3) c3 = madd(c3, v128.load32_splat(ap + 3 * aRowBytes), bk);
      ap += aStep;
      bp += bRowBytes;
    }
    finishVector(mode, o0 + column, c0);
    if (count > 1) finishVector(mode, o0 + outRowBytes + column, c1);
    if (count > 2) finishVector(mode, o0 + 2 * outRowBytes + column, c2);
    if (count > 3) finishVector(mode, o0 + 3 * outRowBytes + column, c3);
  }
  if (wide < N) {
    for (let r = 0; r < count; r++) {
      smallRow(o0 + <usize>r * outRowBytes, a0 + <usize>r * aRowBytes, aStep, b, bRowBytes, bias, K, N, wide, mode);
    }
  }
}

// smallGemm for K ≤ 4 inner terms and N = 4 or 8 columns — a first layer over a few features, the
// input gradient of a layer a few units wide: B's K rows stay in registers and the rows go one at a
// time, each K splats, K multiply-adds (per 4 columns) and a store. smallRows' blocks spend more on
// loop control than on so few sums (a 100×1×4 product took 150 ns there, 84 here). Each element is
// the same chain.
@inline function fewInner(
  out: usize, a: usize, aRowBytes: usize, aStep: usize, b: usize, bRowBytes: usize, bias: usize,
  M: i32, K: i32, N: i32, mode: i32,
): void {
  if (N == 4) {
    if (K == 1) fewRows(out, a, aRowBytes, aStep, b, bRowBytes, bias, M, 1, false, mode);
    else if (K == 2) fewRows(out, a, aRowBytes, aStep, b, bRowBytes, bias, M, 2, false, mode);
    else if (K == 3) fewRows(out, a, aRowBytes, aStep, b, bRowBytes, bias, M, 3, false, mode);
    else fewRows(out, a, aRowBytes, aStep, b, bRowBytes, bias, M, 4, false, mode);
  } else {
    if (K == 1) fewRows(out, a, aRowBytes, aStep, b, bRowBytes, bias, M, 1, true, mode);
    else if (K == 2) fewRows(out, a, aRowBytes, aStep, b, bRowBytes, bias, M, 2, true, mode);
    else if (K == 3) fewRows(out, a, aRowBytes, aStep, b, bRowBytes, bias, M, 3, true, mode);
    else fewRows(out, a, aRowBytes, aStep, b, bRowBytes, bias, M, 4, true, mode);
  }
}

// fewInner for a constant `terms` (K) and `eight` (N = 8, else 4).
@inline function fewRows(
  out: usize, a: usize, aRowBytes: usize, aStep: usize, b: usize, bRowBytes: usize, bias: usize,
  M: i32, terms: i32, eight: bool, mode: i32,
): void {
  const zero = f32x4.splat(0);
  const start0 = mode == WRITE_WITH_BIAS ? v128.load(bias) : zero;
  const start1 = eight && mode == WRITE_WITH_BIAS ? v128.load(bias, 16) : zero;
  const b00 = v128.load(b);
  const b01 = eight ? v128.load(b, 16) : zero;
  const b10 = terms > 1 ? v128.load(b + bRowBytes) : zero;
  const b11 = terms > 1 && eight ? v128.load(b + bRowBytes, 16) : zero;
  const b20 = terms > 2 ? v128.load(b + 2 * bRowBytes) : zero;
  const b21 = terms > 2 && eight ? v128.load(b + 2 * bRowBytes, 16) : zero;
  const b30 = terms > 3 ? v128.load(b + 3 * bRowBytes) : zero;
  const b31 = terms > 3 && eight ? v128.load(b + 3 * bRowBytes, 16) : zero;
  const outRowBytes: usize = eight ? 32 : 16;
  let ap = a;
  let op = out;
  for (let i = 0; i < M; i++) {
    let x = v128.load32_splat(ap);
    let c0 = madd(start0, x, b00);
    let c1 = eight ? madd(start1, x, b01) : zero;
    if (terms > 1) {
      x = v128.load32_splat(ap + aStep);
      c0 = madd(c0, x, b10);
      if (eight) c1 = madd(c1, x, b11);
    }
    if (terms > 2) {
      x = v128.load32_splat(ap + 2 * aStep);
      c0 = madd(c0, x, b20);
      if (eight) c1 = madd(c1, x, b21);
    }
    if (terms > 3) {
      x = v128.load32_splat(ap + 3 * aStep);
      c0 = madd(c0, x, b30);
      if (eight) c1 = madd(c1, x, b31);
    }
    finishVector(mode, op, c0);
    if (eight) finishVector(mode, op + 16, c1);
    ap += aRowBytes;
    op += outRowBytes;
  }
}
