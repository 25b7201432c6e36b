// Dropout twins: masks from the same counter-based hash as the wasm kernel, and the elementwise products.
import type { Floats } from './floats.js';

function hash(index: number, key: number): number {
  let x = (Math.imul(index, 0x9e3779b1) + key) | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** mask[i] = 1/(1 − rate) where hash(seed, stream, i) ≥ rate·2³², else 0.  "=" */
export function dropout_mask(m: Floats, mask: number, n: number, rate: number, seed: number, stream: number): void {
  const threshold = Math.floor(rate * 4294967296) >>> 0;
  const keep = Math.fround(1 / (1 - rate));
  const key = seed ^ Math.imul(stream, 0x85ebca77);
  for (let i = 0; i < n; i++) m[mask + i] = hash(i, key) >= threshold ? keep : 0;
}

/** out = a ⊙ b.  "=" */
export function mul(m: Floats, out: number, a: number, b: number, n: number): void {
  for (let i = 0; i < n; i++) m[out + i] = m[a + i] * m[b + i];
}

/** out += a ⊙ b.  "+=" */
export function mul_add(m: Floats, out: number, a: number, b: number, n: number): void {
  for (let i = 0; i < n; i++) m[out + i] += m[a + i] * m[b + i];
}
