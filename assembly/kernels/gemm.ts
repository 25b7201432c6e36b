// GEMM for the three products of a dense layer, over row-major float32 matrices in linear memory:
// X·W (forward), dZ·Wᵀ (input gradient) and Xᵀ·dZ (weight gradient), with W stored [in × out].

import { horizontalSum } from './vmath';

// What a block of the output becomes: the product, the product plus the bias row, or the output plus
// the product. "+=" adds the finished sum, so accumulating the same product twice doubles it exactly.
const WRITE: i32 = 0;
const WRITE_WITH_BIAS: i32 = 1;
const ACCUMULATE: i32 = 2;

@inline function startVector(mode: i32, bias: usize): v128 {
  return mode == WRITE_WITH_BIAS ? v128.load(bias) : f32x4.splat(0);
}

@inline function startScalar(mode: i32, bias: usize): f32 {
  return mode == WRITE_WITH_BIAS ? load<f32>(bias) : 0;
}

@inline function finishVector(mode: i32, output: usize, sum: v128): void {
  v128.store(output, mode == ACCUMULATE ? f32x4.add(v128.load(output), sum) : sum);
}

@inline function finishScalar(mode: i32, output: usize, sum: f32): void {
  store<f32>(output, mode == ACCUMULATE ? load<f32>(output) + sum : sum);
}

@inline function madd(acc: v128, a: v128, b: v128): v128 {
  return f32x4.add(acc, f32x4.mul(a, b));
}

// out[M×N] (mode) A·B where A's element (row r, inner k) sits at a + 4·(r·rowStride + k·innerStride)
// and B is [K×N] row-major. The micro-kernel keeps a 4×8 block of the output in eight accumulators
// (8 + 2 loaded B vectors + 1 splat = 11 live v128, under V8's 16 registers): each step broadcasts
// one element of A and multiplies it into two contiguous vectors of a B row.
@inline function splatGemm(
  out: usize, a: usize, rowStride: i32, innerStride: i32, b: usize, bias: usize,
  M: i32, K: i32, N: i32, mode: i32,
): void {
  const aStep = <usize>innerStride << 2;
  const aRowBytes = <usize>rowStride << 2;
  const rowBytes = <usize>N << 2;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const aRow = a + <usize>i * aRowBytes;
    const outRow = out + <usize>i * rowBytes;
    let j = 0;
    for (; j + 8 <= N; j += 8) {
      const o = outRow + (<usize>j << 2);
      const bi = bias + (<usize>j << 2);
      let c00 = startVector(mode, bi);
      let c01 = startVector(mode, bi + 16);
      let c10 = startVector(mode, bi);
      let c11 = startVector(mode, bi + 16);
      let c20 = startVector(mode, bi);
      let c21 = startVector(mode, bi + 16);
      let c30 = startVector(mode, bi);
      let c31 = startVector(mode, bi + 16);
      let ap = aRow;
      let bp = b + (<usize>j << 2);
      for (let k = 0; k < K; k++) {
        const b0 = v128.load(bp);
        const b1 = v128.load(bp, 16);
        let s = f32x4.splat(load<f32>(ap));
        c00 = madd(c00, s, b0);
        c01 = madd(c01, s, b1);
        s = f32x4.splat(load<f32>(ap + aRowBytes));
        c10 = madd(c10, s, b0);
        c11 = madd(c11, s, b1);
        s = f32x4.splat(load<f32>(ap + 2 * aRowBytes));
        c20 = madd(c20, s, b0);
        c21 = madd(c21, s, b1);
        s = f32x4.splat(load<f32>(ap + 3 * aRowBytes));
        c30 = madd(c30, s, b0);
        c31 = madd(c31, s, b1);
        ap += aStep;
        bp += rowBytes;
      }
      finishVector(mode, o, c00);
      finishVector(mode, o + 16, c01);
      finishVector(mode, o + rowBytes, c10);
      finishVector(mode, o + rowBytes + 16, c11);
      finishVector(mode, o + 2 * rowBytes, c20);
      finishVector(mode, o + 2 * rowBytes + 16, c21);
      finishVector(mode, o + 3 * rowBytes, c30);
      finishVector(mode, o + 3 * rowBytes + 16, c31);
    }
    for (; j + 4 <= N; j += 4) {
      const o = outRow + (<usize>j << 2);
      const bi = bias + (<usize>j << 2);
      let c0 = startVector(mode, bi);
      let c1 = startVector(mode, bi);
      let c2 = startVector(mode, bi);
      let c3 = startVector(mode, bi);
      let ap = aRow;
      let bp = b + (<usize>j << 2);
      for (let k = 0; k < K; k++) {
        const b0 = v128.load(bp);
        c0 = madd(c0, f32x4.splat(load<f32>(ap)), b0);
        c1 = madd(c1, f32x4.splat(load<f32>(ap + aRowBytes)), b0);
        c2 = madd(c2, f32x4.splat(load<f32>(ap + 2 * aRowBytes)), b0);
        c3 = madd(c3, f32x4.splat(load<f32>(ap + 3 * aRowBytes)), b0);
        ap += aStep;
        bp += rowBytes;
      }
      finishVector(mode, o, c0);
      finishVector(mode, o + rowBytes, c1);
      finishVector(mode, o + 2 * rowBytes, c2);
      finishVector(mode, o + 3 * rowBytes, c3);
    }
    for (; j < N; j++) {
      const o = outRow + (<usize>j << 2);
      const bi = bias + (<usize>j << 2);
      let c0 = startScalar(mode, bi);
      let c1 = startScalar(mode, bi);
      let c2 = startScalar(mode, bi);
      let c3 = startScalar(mode, bi);
      let ap = aRow;
      let bp = b + (<usize>j << 2);
      for (let k = 0; k < K; k++) {
        const bk = load<f32>(bp);
        c0 += load<f32>(ap) * bk;
        c1 += load<f32>(ap + aRowBytes) * bk;
        c2 += load<f32>(ap + 2 * aRowBytes) * bk;
        c3 += load<f32>(ap + 3 * aRowBytes) * bk;
        ap += aStep;
        bp += rowBytes;
      }
      finishScalar(mode, o, c0);
      finishScalar(mode, o + rowBytes, c1);
      finishScalar(mode, o + 2 * rowBytes, c2);
      finishScalar(mode, o + 3 * rowBytes, c3);
    }
  }
  for (; i < M; i++) {
    const aRow = a + <usize>i * aRowBytes;
    const outRow = out + <usize>i * rowBytes;
    let j = 0;
    for (; j + 16 <= N; j += 16) {
      const o = outRow + (<usize>j << 2);
      const bi = bias + (<usize>j << 2);
      let c0 = startVector(mode, bi);
      let c1 = startVector(mode, bi + 16);
      let c2 = startVector(mode, bi + 32);
      let c3 = startVector(mode, bi + 48);
      let ap = aRow;
      let bp = b + (<usize>j << 2);
      for (let k = 0; k < K; k++) {
        const s = f32x4.splat(load<f32>(ap));
        c0 = madd(c0, s, v128.load(bp));
        c1 = madd(c1, s, v128.load(bp, 16));
        c2 = madd(c2, s, v128.load(bp, 32));
        c3 = madd(c3, s, v128.load(bp, 48));
        ap += aStep;
        bp += rowBytes;
      }
      finishVector(mode, o, c0);
      finishVector(mode, o + 16, c1);
      finishVector(mode, o + 32, c2);
      finishVector(mode, o + 48, c3);
    }
    for (; j + 4 <= N; j += 4) {
      const o = outRow + (<usize>j << 2);
      let c0 = startVector(mode, bias + (<usize>j << 2));
      let ap = aRow;
      let bp = b + (<usize>j << 2);
      for (let k = 0; k < K; k++) {
        c0 = madd(c0, f32x4.splat(load<f32>(ap)), v128.load(bp));
        ap += aStep;
        bp += rowBytes;
      }
      finishVector(mode, o, c0);
    }
    for (; j < N; j++) {
      const o = outRow + (<usize>j << 2);
      let c0 = startScalar(mode, bias + (<usize>j << 2));
      let ap = aRow;
      let bp = b + (<usize>j << 2);
      for (let k = 0; k < K; k++) {
        c0 += load<f32>(ap) * load<f32>(bp);
        ap += aStep;
        bp += rowBytes;
      }
      finishScalar(mode, o, c0);
    }
  }
}

/** out[M×N] = x[M×K] · w[K×N] (+ bias[N] when bias ≠ 0).  "=" */
export function gemm_nn(out: usize, x: usize, w: usize, bias: usize, M: i32, K: i32, N: i32): void {
  if (bias != 0) splatGemm(out, x, K, 1, w, bias, M, K, N, WRITE_WITH_BIAS);
  else splatGemm(out, x, K, 1, w, 0, M, K, N, WRITE);
}

/** out[M×N] += a[K×M]ᵀ · b[K×N] — the weight gradient dW += Xᵀ·dZ.  "+=" */
export function gemm_tn(out: usize, a: usize, b: usize, M: i32, K: i32, N: i32): void {
  splatGemm(out, a, 1, M, b, 0, M, K, N, ACCUMULATE);
}

/**
 * out[M×N] = a[M×K] · b[N×K]ᵀ — the input gradient dX = dZ·Wᵀ with W stored [in × out].  "="
 * Both operands are contiguous along K, so each output is a dot product: a 4×2 block of outputs
 * keeps eight vector partial sums (plus 6 loaded vectors: 14 live), reduced across lanes at the end.
 */
export function gemm_nt(out: usize, a: usize, b: usize, M: i32, K: i32, N: i32): void {
  const rowBytes = <usize>K << 2;
  const outRowBytes = <usize>N << 2;
  const vectorK = K & ~3;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const a0 = a + <usize>i * rowBytes;
    const o = out + <usize>i * outRowBytes;
    let j = 0;
    for (; j + 2 <= N; j += 2) {
      const b0 = b + <usize>j * rowBytes;
      let s00 = f32x4.splat(0), s01 = f32x4.splat(0);
      let s10 = f32x4.splat(0), s11 = f32x4.splat(0);
      let s20 = f32x4.splat(0), s21 = f32x4.splat(0);
      let s30 = f32x4.splat(0), s31 = f32x4.splat(0);
      for (let k = 0; k < vectorK; k += 4) {
        const offset = <usize>k << 2;
        const bv0 = v128.load(b0 + offset);
        const bv1 = v128.load(b0 + rowBytes + offset);
        let av = v128.load(a0 + offset);
        s00 = madd(s00, av, bv0);
        s01 = madd(s01, av, bv1);
        av = v128.load(a0 + rowBytes + offset);
        s10 = madd(s10, av, bv0);
        s11 = madd(s11, av, bv1);
        av = v128.load(a0 + 2 * rowBytes + offset);
        s20 = madd(s20, av, bv0);
        s21 = madd(s21, av, bv1);
        av = v128.load(a0 + 3 * rowBytes + offset);
        s30 = madd(s30, av, bv0);
        s31 = madd(s31, av, bv1);
      }
      let t00 = horizontalSum(s00), t01 = horizontalSum(s01);
      let t10 = horizontalSum(s10), t11 = horizontalSum(s11);
      let t20 = horizontalSum(s20), t21 = horizontalSum(s21);
      let t30 = horizontalSum(s30), t31 = horizontalSum(s31);
      for (let k = vectorK; k < K; k++) {
        const offset = <usize>k << 2;
        const bk0 = load<f32>(b0 + offset);
        const bk1 = load<f32>(b0 + rowBytes + offset);
        const ak0 = load<f32>(a0 + offset);
        const ak1 = load<f32>(a0 + rowBytes + offset);
        const ak2 = load<f32>(a0 + 2 * rowBytes + offset);
        const ak3 = load<f32>(a0 + 3 * rowBytes + offset);
        t00 += ak0 * bk0; t01 += ak0 * bk1;
        t10 += ak1 * bk0; t11 += ak1 * bk1;
        t20 += ak2 * bk0; t21 += ak2 * bk1;
        t30 += ak3 * bk0; t31 += ak3 * bk1;
      }
      const oj = o + (<usize>j << 2);
      store<f32>(oj, t00); store<f32>(oj, t01, 4);
      store<f32>(oj + outRowBytes, t10); store<f32>(oj + outRowBytes, t11, 4);
      store<f32>(oj + 2 * outRowBytes, t20); store<f32>(oj + 2 * outRowBytes, t21, 4);
      store<f32>(oj + 3 * outRowBytes, t30); store<f32>(oj + 3 * outRowBytes, t31, 4);
    }
    for (; j < N; j++) {
      for (let r = 0; r < 4; r++) {
        store<f32>(o + <usize>r * outRowBytes + (<usize>j << 2), dot(a0 + <usize>r * rowBytes, b + <usize>j * rowBytes, K));
      }
    }
  }
  for (; i < M; i++) {
    const ai = a + <usize>i * rowBytes;
    const o = out + <usize>i * outRowBytes;
    for (let j = 0; j < N; j++) store<f32>(o + (<usize>j << 2), dot(ai, b + <usize>j * rowBytes, K));
  }
}

// Σ x[k]·y[k] over K contiguous floats, in the same lane order as the 4×2 block above.
@inline function dot(x: usize, y: usize, K: i32): f32 {
  const vectorK = K & ~3;
  let sum = f32x4.splat(0);
  for (let k = 0; k < vectorK; k += 4) {
    const offset = <usize>k << 2;
    sum = madd(sum, v128.load(x + offset), v128.load(y + offset));
  }
  let total = horizontalSum(sum);
  for (let k = vectorK; k < K; k++) total += load<f32>(x + (<usize>k << 2)) * load<f32>(y + (<usize>k << 2));
  return total;
}
