// Dropout masks from a counter-based hash (murmur3's finalizer over seed, stream and index): the
// same bits on every backend and thread count, no state to carry. And the products that apply them.

// fmix32(index·φ + (seed ⊕ stream·c)) for four consecutive indices.
@inline function hash(index: v128, key: v128): v128 {
  let x = i32x4.add(i32x4.mul(index, i32x4.splat(0x9e3779b1)), key);
  x = v128.xor(x, i32x4.shr_u(x, 16));
  x = i32x4.mul(x, i32x4.splat(0x85ebca6b));
  x = v128.xor(x, i32x4.shr_u(x, 13));
  x = i32x4.mul(x, i32x4.splat(0xc2b2ae35));
  return v128.xor(x, i32x4.shr_u(x, 16));
}

/**
 * mask[i] = 1/(1 − rate) where fmix32(i·0x9e3779b1 + (seed ⊕ stream·0x85ebca77)) ≥ ⌊rate·2³²⌋ (unsigned),
 * else 0 — inverted dropout from a counter-based hash: kept elements are scaled so the expected output is
 * unchanged, and the mask is the same bits on every backend.  "="
 */
export function dropout_mask(mask: usize, n: i32, rate: f64, seed: i32, stream: i32): void {
  const threshold = i32x4.splat(<i32><u32>Math.floor(rate * 4294967296.0));
  const keep = f32x4.splat(<f32>(1.0 / (1.0 - rate)));
  const key = i32x4.splat(seed ^ (stream * 0x85ebca77));
  let index = i32x4(0, 1, 2, 3);
  const step = i32x4.splat(4);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(mask + (<usize>i << 2), v128.and(keep, i32x4.ge_u(hash(index, key), threshold)));
    index = i32x4.add(index, step);
  }
  for (; i < n; i++) {
    const kept = v128.and(keep, i32x4.ge_u(hash(i32x4.splat(i), key), threshold));
    store<f32>(mask + (<usize>i << 2), f32x4.extract_lane(kept, 0));
  }
}

/** out = a ⊙ b over n elements (out may be a or b).  "=" */
export function mul(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    v128.store(out + offset, f32x4.mul(v128.load(a + offset), v128.load(b + offset)));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(out + offset, load<f32>(a + offset) * load<f32>(b + offset));
  }
}

/**
 * out += a ⊙ b over n elements: the gradient of a product for a tensor other layers add to too (the
 * product is rounded, then the sum, as mul then an add would).  "+="
 */
export function mul_add(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    v128.store(out + offset, f32x4.add(v128.load(out + offset), f32x4.mul(v128.load(a + offset), v128.load(b + offset))));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(out + offset, load<f32>(out + offset) + load<f32>(a + offset) * load<f32>(b + offset));
  }
}
