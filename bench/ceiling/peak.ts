// The ceiling of one core's f32 multiply-add throughput in WebAssembly SIMD: register-blocked loops of
// independent accumulators, acc += v128.load(b) * splat(a), over L1-resident data. Built twice: with
// plain SIMD128 (f32x4.mul then f32x4.add) and with relaxed SIMD (f32x4.relaxed_madd, fused where the
// hardware has FMA). Each kernel is rows × vectors: per step it splats `rows` floats of a (a = depth
// rows of `rows` floats) and loads `vectors` v128 of b (b = depth rows of `vectors` × 16 bytes).
// Every kernel runs repeats × depth × rows × vectors multiply-adds of 4 lanes (8 FLOPs each) and
// returns the sum of its accumulators, so the work cannot be optimized away.

@inline function madd(acc: v128, b: v128, s: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(b, s, acc);
  return f32x4.add(acc, f32x4.mul(b, s));
}

@inline function lanes(sum: v128): f32 {
  return f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 1) + f32x4.extract_lane(sum, 2) + f32x4.extract_lane(sum, 3);
}

/** The sum of eight accumulators' lanes: what an 8-accumulator kernel returns. */
@inline function sum8(c0: v128, c1: v128, c2: v128, c3: v128, c4: v128, c5: v128, c6: v128, c7: v128): f32 {
  return lanes(f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7))));
}

/** 1 × 12: twelve accumulators along one row; one load per multiply-add. */
export function madd_1x12(a: usize, b: usize, depth: i32, repeats: i32): f32 {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let c4 = f32x4.splat(0), c5 = f32x4.splat(0), c6 = f32x4.splat(0), c7 = f32x4.splat(0);
  let c8 = f32x4.splat(0), c9 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  for (let repeat = 0; repeat < repeats; repeat++) {
    let pa = a;
    let pb = b;
    for (let k = 0; k < depth; k++) {
      const s = v128.load32_splat(pa);
      c0 = madd(c0, v128.load(pb, 0), s);
      c1 = madd(c1, v128.load(pb, 16), s);
      c2 = madd(c2, v128.load(pb, 32), s);
      c3 = madd(c3, v128.load(pb, 48), s);
      c4 = madd(c4, v128.load(pb, 64), s);
      c5 = madd(c5, v128.load(pb, 80), s);
      c6 = madd(c6, v128.load(pb, 96), s);
      c7 = madd(c7, v128.load(pb, 112), s);
      c8 = madd(c8, v128.load(pb, 128), s);
      c9 = madd(c9, v128.load(pb, 144), s);
      c10 = madd(c10, v128.load(pb, 160), s);
      c11 = madd(c11, v128.load(pb, 176), s);
      pa += 4;
      pb += 192;
    }
  }
  return lanes(f32x4.add(
    f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7))),
    f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11)),
  ));
}

/** 3 × 4: twelve accumulators, each loaded vector used three times. */
export function madd_3x4(a: usize, b: usize, depth: i32, repeats: i32): f32 {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c22 = f32x4.splat(0), c23 = f32x4.splat(0);
  for (let repeat = 0; repeat < repeats; repeat++) {
    let pa = a;
    let pb = b;
    for (let k = 0; k < depth; k++) {
      const b0 = v128.load(pb, 0);
      const b1 = v128.load(pb, 16);
      const b2 = v128.load(pb, 32);
      const b3 = v128.load(pb, 48);
      let s = v128.load32_splat(pa, 0);
      c00 = madd(c00, b0, s);
      c01 = madd(c01, b1, s);
      c02 = madd(c02, b2, s);
      c03 = madd(c03, b3, s);
      s = v128.load32_splat(pa, 4);
      c10 = madd(c10, b0, s);
      c11 = madd(c11, b1, s);
      c12 = madd(c12, b2, s);
      c13 = madd(c13, b3, s);
      s = v128.load32_splat(pa, 8);
      c20 = madd(c20, b0, s);
      c21 = madd(c21, b1, s);
      c22 = madd(c22, b2, s);
      c23 = madd(c23, b3, s);
      pa += 12;
      pb += 64;
    }
  }
  return lanes(f32x4.add(
    f32x4.add(f32x4.add(f32x4.add(c00, c01), f32x4.add(c02, c03)), f32x4.add(f32x4.add(c10, c11), f32x4.add(c12, c13))),
    f32x4.add(f32x4.add(c20, c21), f32x4.add(c22, c23)),
  ));
}

/** 4 × 2: eight accumulators, each loaded vector used four times (simdprop's GEMM tile). */
export function madd_4x2(a: usize, b: usize, depth: i32, repeats: i32): f32 {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let repeat = 0; repeat < repeats; repeat++) {
    let pa = a;
    let pb = b;
    for (let k = 0; k < depth; k++) {
      const b0 = v128.load(pb, 0);
      const b1 = v128.load(pb, 16);
      let s = v128.load32_splat(pa, 0);
      c00 = madd(c00, b0, s);
      c01 = madd(c01, b1, s);
      s = v128.load32_splat(pa, 4);
      c10 = madd(c10, b0, s);
      c11 = madd(c11, b1, s);
      s = v128.load32_splat(pa, 8);
      c20 = madd(c20, b0, s);
      c21 = madd(c21, b1, s);
      s = v128.load32_splat(pa, 12);
      c30 = madd(c30, b0, s);
      c31 = madd(c31, b1, s);
      pa += 16;
      pb += 32;
    }
  }
  return sum8(c00, c01, c10, c11, c20, c21, c30, c31);
}

/** 2 × 4: eight accumulators, each loaded vector used twice. */
export function madd_2x4(a: usize, b: usize, depth: i32, repeats: i32): f32 {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  for (let repeat = 0; repeat < repeats; repeat++) {
    let pa = a;
    let pb = b;
    for (let k = 0; k < depth; k++) {
      const b0 = v128.load(pb, 0);
      const b1 = v128.load(pb, 16);
      const b2 = v128.load(pb, 32);
      const b3 = v128.load(pb, 48);
      let s = v128.load32_splat(pa, 0);
      c00 = madd(c00, b0, s);
      c01 = madd(c01, b1, s);
      c02 = madd(c02, b2, s);
      c03 = madd(c03, b3, s);
      s = v128.load32_splat(pa, 4);
      c10 = madd(c10, b0, s);
      c11 = madd(c11, b1, s);
      c12 = madd(c12, b2, s);
      c13 = madd(c13, b3, s);
      pa += 8;
      pb += 64;
    }
  }
  return sum8(c00, c01, c02, c03, c10, c11, c12, c13);
}

/**
 * 4 × 2 with its four splats held in registers: only B is loaded, two vectors a step. Not a GEMM tile
 * (a GEMM needs new elements of A every step); it measures the multiply and add pipes alone, so the
 * report can say how much of the tiles' speed the loads of A cost on this core.
 */
export function madd_4x2_held(a: usize, b: usize, depth: i32, repeats: i32): f32 {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const s0 = v128.load32_splat(a, 0);
  const s1 = v128.load32_splat(a, 4);
  const s2 = v128.load32_splat(a, 8);
  const s3 = v128.load32_splat(a, 12);
  for (let repeat = 0; repeat < repeats; repeat++) {
    let pb = b;
    for (let k = 0; k < depth; k++) {
      const b0 = v128.load(pb, 0);
      const b1 = v128.load(pb, 16);
      c00 = madd(c00, b0, s0);
      c01 = madd(c01, b1, s0);
      c10 = madd(c10, b0, s1);
      c11 = madd(c11, b1, s1);
      c20 = madd(c20, b0, s2);
      c21 = madd(c21, b1, s2);
      c30 = madd(c30, b0, s3);
      c31 = madd(c31, b1, s3);
      pb += 32;
    }
  }
  return sum8(c00, c01, c10, c11, c20, c21, c30, c31);
}

/**
 * A chain of 32 dependent i32 additions per step. An addition takes one cycle and each waits for the
 * one before, so steps · 32 / seconds is the core's clock while it runs this code.
 */
export function add_chain(steps: i32, y: i32): i32 {
  let x = 0;
  for (let step = 0; step < steps; step++) {
    x += y; x += y; x += y; x += y; x += y; x += y; x += y; x += y;
    x += y; x += y; x += y; x += y; x += y; x += y; x += y; x += y;
    x += y; x += y; x += y; x += y; x += y; x += y; x += y; x += y;
    x += y; x += y; x += y; x += y; x += y; x += y; x += y; x += y;
  }
  return x;
}
