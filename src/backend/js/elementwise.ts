// Elementwise twins over n contiguous elements at element indices of m, and copy_rows, a block of
// columns between row-major matrices of other widths (strides in elements).
import type { Floats } from './floats.js';

export function fill(m: Floats, x: number, n: number, value: number): void {
  m.fill(value, x, x + n);
}

/** x *= s */
export function scale(m: Floats, x: number, n: number, s: number): void {
  for (let i = 0; i < n; i++) m[x + i] *= s;
}

/** y += a·x */
export function axpy(m: Floats, y: number, x: number, n: number, a: number): void {
  for (let i = 0; i < n; i++) m[y + i] += a * m[x + i];
}

/** dst ← src, n elements; overlapping ranges copy as if through a temporary (memmove). */
export function copy(m: Floats, dst: number, src: number, n: number): void {
  m.copyWithin(dst, src, src + n);
}

/** x = min(max(x, low), high); NaN stays NaN.  "=" */
export function clamp(m: Floats, x: number, n: number, low: number, high: number): void {
  const lo = Math.fround(low);
  const hi = Math.fround(high);
  for (let i = 0; i < n; i++) {
    const value = m[x + i];
    m[x + i] = value < lo ? lo : value > hi ? hi : value;
  }
}

/** dst[r·dstStride + c] = src[r·srcStride + c] for r < rows, c < cols, or += when accumulate ≠ 0.  "=" or "+=" */
export function copy_rows(
  m: Floats, dst: number, dstStride: number, src: number, srcStride: number, rows: number, cols: number, accumulate: number,
): void {
  for (let r = 0; r < rows; r++) {
    const dstRow = dst + r * dstStride;
    const srcRow = src + r * srcStride;
    if (accumulate !== 0) for (let c = 0; c < cols; c++) m[dstRow + c] += m[srcRow + c];
    else m.copyWithin(dstRow, srcRow, srcRow + cols);
  }
}
