// Row-wise softmax twins over a row-major [rows × cols] block at element indices of m;
// backward may run in place (dz = da).
import type { Floats } from './floats.js';

/** out[r] = exp(z[r] − max z[r]) / Σ exp(z[r] − max z[r]), row by row.  "=" */
export function softmax_forward(m: Floats, out: number, z: number, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const zRow = z + r * cols;
    const outRow = out + r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) max = Math.max(max, m[zRow + j]);
    let sum = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.exp(m[zRow + j] - max);
      m[outRow + j] = e;
      sum += e;
    }
    for (let j = 0; j < cols; j++) m[outRow + j] /= sum;
  }
}

/** dz = a ⊙ (da − Σ_j da_j·a_j), row by row, from the softmax output a.  "=" */
export function softmax_backward(m: Floats, dz: number, da: number, a: number, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const offset = r * cols;
    // The whole row's dot product is taken before any write, since dz may alias da.
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += m[da + offset + j] * m[a + offset + j];
    for (let j = 0; j < cols; j++) m[dz + offset + j] = m[a + offset + j] * (m[da + offset + j] - dot);
  }
}
