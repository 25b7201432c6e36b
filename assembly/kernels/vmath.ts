// Four-lane float32 math the activations and losses share: exp, sigmoid. Scalar tails call these on a
// splat and take lane 0, so an element gets the same bits whether it falls in a vector or in the tail.

// e^x: x = n·ln2 + r with |r| ≤ ln2/2; e^r by its degree-6 Taylor polynomial (error < 1.3e-7 relative);
// 2^n built directly in the exponent bits. x is clamped so that 2^n stays a normal float, and below
// the smallest normal the result is 0 (as an underflowing exp rounds), so that e^x·huge stays finite.
// The clamps here and in the losses use pmin/pmax, one instruction each on x86 where min/max take
// about seven to honour NaN and ±0 ordering: a NaN input still comes out NaN (pmax(a, b) is a < b ? b : a),
// and no bound is ±0, so the two agree on every input.
@inline export function vexp(input: v128): v128 {
  return vexpBelow88(f32x4.pmin(input, f32x4.splat(88.0)));
}

// e^x for x known to be at most 88 (or NaN): vexp without its upper clamp, the same bits. Softmax's
// shifted logits and the −|z| of sigmoid and softplus are never positive.
@inline export function vexpBelow88(input: v128): v128 {
  const underflow = f32x4.lt(input, f32x4.splat(-87.33654));
  const x = f32x4.pmax(input, f32x4.splat(-87.33654));
  // n = round(x·log2 e): adding 1.5·2²³ leaves the rounded integer in the low mantissa bits (ties to
  // even, as f32x4.nearest), where the 2^n below takes it from, instead of nearest and trunc_sat
  // (the latter some eight instructions in V8 on x64).
  const shifted = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504)), f32x4.splat(12582912.0));
  const n = f32x4.sub(shifted, f32x4.splat(12582912.0));
  // ln2 split into a part exact in float32 and a small correction, so r keeps its low bits.
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  // The polynomial in Estrin's form: three independent pairs joined by r² and r⁴, some 5 dependent
  // operations deep instead of Horner's 12, so the loops over a few hundred values are not bound by
  // the latency of one long chain per vector.
  const r2 = f32x4.mul(r, r);
  const r4 = f32x4.mul(r2, r2);
  const low = f32x4.add(f32x4.add(f32x4.splat(1.0), r), f32x4.mul(r2, f32x4.add(f32x4.splat(0.5), f32x4.mul(r, f32x4.splat(1.0 / 6.0)))));
  const high = f32x4.add(f32x4.add(f32x4.splat(1.0 / 24.0), f32x4.mul(r, f32x4.splat(1.0 / 120.0))), f32x4.mul(r2, f32x4.splat(1.0 / 720.0)));
  const p = f32x4.add(low, f32x4.mul(r4, high));
  const twoToN = i32x4.shl(i32x4.add(shifted, i32x4.splat(127 - 0x4b400000)), 23);
  return v128.andnot(f32x4.mul(p, twoToN), underflow);
}

// log(x): x = m·2^e with m in [√½, √2); log m = 2·atanh(s), s = (m − 1)/(m + 1), by its odd series
// to s⁹ (|s| ≤ 0.172: error < 1e-8 of the result, below float32 rounding). Subnormals are scaled by
// 2^24 first (their exponent field is 0); log 0 = −∞, log of a negative is NaN.
@inline export function vlog(x: v128): v128 {
  const subnormal = f32x4.lt(x, f32x4.splat(1.17549435e-38));
  const bits = v128.bitselect(f32x4.mul(x, f32x4.splat(16777216.0)), x, subnormal);
  const result = logOfBits(bits, v128.and(subnormal, i32x4.splat(24)));
  const special = v128.bitselect(f32x4.splat(NaN), f32x4.splat(-Infinity), f32x4.lt(x, f32x4.splat(0)));
  return v128.bitselect(special, result, f32x4.le(x, f32x4.splat(0)));
}

// vlog for lanes known to be normal, positive and finite (the caller has checked): the same bits
// without the subnormal scaling and the special cases.
@inline export function vlogNormal(x: v128): v128 {
  return logOfBits(x, f32x4.splat(0));
}

// log of the float with these bits, normal and positive, minus `scaled`·ln2 (its 2^scaled prescale).
@inline function logOfBits(bits: v128, scaled: v128): v128 {
  let exponent = i32x4.sub(i32x4.sub(i32x4.shr_u(bits, 23), i32x4.splat(127)), scaled);
  let m = v128.or(v128.and(bits, i32x4.splat(0x007fffff)), i32x4.splat(0x3f800000));
  const large = f32x4.gt(m, f32x4.splat(1.41421356));
  m = v128.bitselect(f32x4.mul(m, f32x4.splat(0.5)), m, large);
  exponent = i32x4.sub(exponent, large);
  const f = f32x4.sub(m, f32x4.splat(1));
  const s = f32x4.div(f, f32x4.add(f, f32x4.splat(2.0)));
  const s2 = f32x4.mul(s, s);
  // Estrin's form again (see vexp): 2 + 2s²/3 + s⁴·(2/5 + 2s²/7 + 2s⁴/9).
  const s4 = f32x4.mul(s2, s2);
  const low = f32x4.add(f32x4.splat(2.0), f32x4.mul(s2, f32x4.splat(2.0 / 3.0)));
  const high = f32x4.add(f32x4.add(f32x4.splat(2.0 / 5.0), f32x4.mul(s2, f32x4.splat(2.0 / 7.0))), f32x4.mul(s4, f32x4.splat(2.0 / 9.0)));
  const p = f32x4.add(low, f32x4.mul(s4, high));
  const e = f32x4.convert_i32x4_s(exponent);
  // e·ln2 split in two, so that its rounding does not swamp log m.
  return f32x4.add(f32x4.mul(e, f32x4.splat(0.693359375)), f32x4.add(f32x4.mul(e, f32x4.splat(-2.12194440e-4)), f32x4.mul(s, p)));
}

// −|z|: z with its sign bit set, one instruction where abs and neg take three each in V8 (each
// builds its mask first).
@inline export function negativeMagnitude(z: v128): v128 {
  return v128.or(z, i32x4.splat(0x80000000));
}

// σ(z) = 1/(1 + e^−z), computed from e^−|z| so that neither branch overflows.
@inline export function vsigmoid(z: v128): v128 {
  const e = vexpBelow88(negativeMagnitude(z));
  const inverse = f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), e));
  return v128.bitselect(inverse, f32x4.mul(e, inverse), f32x4.ge(z, f32x4.splat(0)));
}

// tanh(z) = sign(z)·(1 − 2/(e^{2|z|} + 1)).
@inline export function vtanh(z: v128): v128 {
  const e = vexp(f32x4.add(f32x4.abs(z), f32x4.abs(z)));
  const magnitude = f32x4.sub(f32x4.splat(1.0), f32x4.div(f32x4.splat(2.0), f32x4.add(e, f32x4.splat(1.0))));
  return v128.or(magnitude, v128.and(z, i32x4.splat(0x80000000)));
}

@inline export function lane0(v: v128): f32 {
  return f32x4.extract_lane(v, 0);
}

// Four float32 lanes added, widened, into the two float64 lanes of acc: sums kept in float64 without a
// horizontal shuffle per step; sumLanes() finishes one.
@inline export function accumulateF64(acc: v128, v: v128): v128 {
  const low = f64x2.promote_low_f32x4(v);
  const high = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f64x2.add(acc, f64x2.add(low, high));
}

// acc − the four lanes, widened: the same bits as accumulateF64 of their negatives.
@inline export function subtractF64(acc: v128, v: v128): v128 {
  const low = f64x2.promote_low_f32x4(v);
  const high = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f64x2.sub(acc, f64x2.add(low, high));
}

@inline export function sumLanes(acc: v128): f64 {
  return f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
}

@inline export function horizontalSum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * Σ x[0 … n & ~3) in four lanes: 16 floats a step in four accumulators, so the adds form four chains,
 * not one, then 4 at a time; the caller adds the last n % 4.
 */
@inline export function laneSums(x: usize, n: i32): v128 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    const p = x + (<usize>j << 2);
    s0 = f32x4.add(s0, v128.load(p));
    s1 = f32x4.add(s1, v128.load(p, 16));
    s2 = f32x4.add(s2, v128.load(p, 32));
    s3 = f32x4.add(s3, v128.load(p, 48));
  }
  for (; j + 4 <= n; j += 4) s0 = f32x4.add(s0, v128.load(x + (<usize>j << 2)));
  return f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3));
}

// Lanes 2 and 3 of four float32 lanes, widened to two float64 (f64x2.promote_low_f32x4 takes 0 and 1).
@inline export function promoteHigh(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
}
