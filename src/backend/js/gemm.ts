// GEMM twins: the three products of a dense layer, over row-major matrices at element indices of m.
// nn: out[M×N] = x[M×K]·w[K×N] (+ bias[N]); nt: out[M×N] = a[M×K]·b[N×K]ᵀ; tn: out[M×N] += a[K×M]ᵀ·b[K×N].
import type { Floats } from './floats.js';

/** out = x·w, plus bias broadcast over rows unless bias is −1.  "=" */
export function gemm_nn(m: Floats, out: number, x: number, w: number, bias: number, M: number, K: number, N: number): void {
  for (let i = 0; i < M; i++) {
    const outRow = out + i * N;
    if (bias < 0) m.fill(0, outRow, outRow + N);
    else m.copyWithin(outRow, bias, bias + N);
    // i-k-j order: the inner loop runs along one row of w and one row of out, both contiguous.
    for (let k = 0; k < K; k++) {
      const xik = m[x + i * K + k];
      const wRow = w + k * N;
      for (let j = 0; j < N; j++) m[outRow + j] += xik * m[wRow + j];
    }
  }
}

/**
 * out[i,j] = Σ_k a[i,k]·b[j,k]: each element is a dot product of two contiguous rows.  "=" With
 * accumulate ≠ 0 the finished sum is added to out instead ("+=").
 */
export function gemm_nt(m: Floats, out: number, a: number, b: number, M: number, K: number, N: number, accumulate: number): void {
  for (let i = 0; i < M; i++) {
    const aRow = a + i * K;
    for (let j = 0; j < N; j++) {
      const bRow = b + j * K;
      let sum = 0;
      for (let k = 0; k < K; k++) sum += m[aRow + k] * m[bRow + k];
      m[out + i * N + j] = accumulate !== 0 ? m[out + i * N + j] + sum : sum;
    }
  }
}

// One output row of gemm_tn summed in double before it is added to out; grown, never per call.
let rowSums = new Float64Array(64);

/**
 * out[i,j] += Σ_k a[k·lda + i]·b[k,j].  "+=" Each complete sum is formed first (in a row of doubles, i-k-j
 * order so the inner loop stays contiguous) and then added, so the same product accumulated twice
 * doubles out exactly, as the contract asks. accumulate = 0 writes the sums instead ("=").
 */
export function gemm_tn(m: Floats, out: number, a: number, b: number, M: number, K: number, N: number, lda: number, accumulate: number): void {
  if (rowSums.length < N) rowSums = new Float64Array(N);
  const sums = rowSums;
  for (let i = 0; i < M; i++) {
    sums.fill(0, 0, N);
    for (let k = 0; k < K; k++) {
      const aki = m[a + k * lda + i];
      const bRow = b + k * N;
      for (let j = 0; j < N; j++) sums[j] += aki * m[bRow + j];
    }
    const outRow = out + i * N;
    if (accumulate !== 0) for (let j = 0; j < N; j++) m[outRow + j] += sums[j];
    else for (let j = 0; j < N; j++) m[outRow + j] = sums[j];
  }
}
