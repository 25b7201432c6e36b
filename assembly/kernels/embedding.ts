// Embedding lookup in a row-major [rows × dim] float32 table by int32 indices, and its gradient: a
// scatter-add into the table's rows, which threads split by ranges of rows.
import { addRow, copyRow } from './elementwise';
import { Int32Ptr } from './pointers';

/**
 * out[i·dim … (i+1)·dim) = table[indices[i]·dim … (indices[i]+1)·dim) for i < n: one table row per index.
 * Each index is in [0, rows of the table): callers check, the kernel does not.  "="
 */
export function embedding_forward(out: usize, indices: Int32Ptr, table: usize, n: i32, dim: i32): void {
  const rowBytes = <usize>dim << 2;
  for (let i = 0; i < n; i++) {
    const row = <usize>load<i32>(indices + (<usize>i << 2));
    copyRow(out + <usize>i * rowBytes, table + row * rowBytes, dim);
  }
}

/**
 * dtable[indices[i]] += dout[i] (rows of dim) for i = 0 … n − 1 in order, touching only the table rows r
 * with first ≤ r < last: threads may each take a range of rows, and every split gives the same bits,
 * each row's contributions added in index order. With accumulate = 0, rows first … last − 1 are set to
 * 0 first ("="); else they are added to ("+="). dout [n × dim] must not overlap dtable.
 */
export function embedding_backward(
  dtable: usize, dout: usize, indices: Int32Ptr, n: i32, dim: i32, first: i32, last: i32, accumulate: i32,
): void {
  const rowBytes = <usize>dim << 2;
  if (accumulate == 0 && last > first) memory.fill(dtable + <usize>first * rowBytes, 0, <usize>(last - first) * rowBytes);
  for (let i = 0; i < n; i++) {
    const row = load<i32>(indices + (<usize>i << 2));
    if (row >= first && row < last) addRow(dtable + <usize>row * rowBytes, dout + <usize>i * rowBytes, dim);
  }
}
