// Reduction twins: column sums of a row-major [rows × cols] block, and whole-range sums over n
// contiguous elements, at element indices of m.
import { scale } from './elementwise.js';
import type { Floats } from './floats.js';

/** db[j] += Σ_i dz[i, j]; like gemm_tn, each column's complete sum is formed first, then added.  "+=" (accumulate = 0: "=") */
export function bias_grad(m: Floats, db: number, dz: number, rows: number, cols: number, accumulate: number): void {
  for (let j = 0; j < cols; j++) {
    let sum = 0;
    for (let i = 0; i < rows; i++) sum += m[dz + i * cols + j];
    if (accumulate !== 0) m[db + j] += sum;
    else m[db + j] = sum;
  }
}

/** Σ x², accumulated in double. */
export function sum_squares(m: Floats, x: number, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const value = m[x + i];
    sum += value * value;
  }
  return sum;
}

/** The norm of the n gradients, and them scaled by maxNorm / (norm + 1e-6) (as float32) where that is < 1. */
export function clip_grad_norm(m: Floats, x: number, n: number, maxNorm: number): number {
  const total = Math.sqrt(sum_squares(m, x, n));
  const factor = maxNorm / (total + 1e-6);
  if (factor < 1) scale(m, x, n, Math.fround(factor));
  return total;
}

/** How many of the n elements are NaN or outside [low, high]; the bounds are float32, as the kernel's. */
export function count_outside(m: Floats, x: number, n: number, low: number, high: number): number {
  const lowest = Math.fround(low);
  const highest = Math.fround(high);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const value = m[x + i];
    if (!(value >= lowest && value <= highest)) count++;
  }
  return count;
}

/** How many of the n elements are NaN or ±Infinity. */
export function count_nonfinite(m: Floats, x: number, n: number): number {
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(m[x + i])) count++;
  }
  return count;
}
