// Embedding twins: rows of a row-major [rows × dim] table at an element index of m, looked up by int32
// indices at an element index of their own array, and the gradient's scatter-add into those rows.
import type { Floats } from './floats.js';

/** out[i] = table[indices[i]], one row of dim per index.  "=" */
export function embedding_forward(
  m: Floats, out: number, indices: Int32Array, indicesIndex: number, table: number, n: number, dim: number,
): void {
  for (let i = 0; i < n; i++) {
    const row = table + indices[indicesIndex + i] * dim;
    m.copyWithin(out + i * dim, row, row + dim);
  }
}

/**
 * dtable[indices[i]] += dout[i] for i = 0 … n − 1 in order, only for table rows in [first, last); with
 * accumulate = 0 those rows are zeroed first.  "+=" (accumulate = 0: "=")
 */
export function embedding_backward(
  m: Floats, dtable: number, dout: number, indices: Int32Array, indicesIndex: number, n: number, dim: number,
  first: number, last: number, accumulate: number,
): void {
  if (accumulate === 0 && last > first) m.fill(0, dtable + first * dim, dtable + last * dim);
  for (let i = 0; i < n; i++) {
    const row = indices[indicesIndex + i];
    if (row < first || row >= last) continue;
    const target = dtable + row * dim;
    const source = dout + i * dim;
    for (let j = 0; j < dim; j++) m[target + j] += m[source + j];
  }
}
