// Causal self-attention twins: per item (sample b, head h) the headDim columns from h·headDim of the
// query, key and value rows at element indices of m (strides in elements), in plain loops; probs and
// mask −1 for none. The probabilities come from one function, forward and recomputed alike.
import type { Floats } from './floats.js';

// One row of probabilities (or of dS in the backward), in double; grown, never per call.
let row = new Float64Array(64);
let gradRow = new Float64Array(64);

/**
 * row[j] = softmax over j < count of scale·Σ_d q[qRow + d]·k[kHead + j·kvStride + d] (the max
 * subtracted). scale is float32, as the kernel's.
 */
function probabilityRow(m: Floats, qRow: number, kHead: number, kvStride: number, headDim: number, count: number, scale: number): void {
  const factor = Math.fround(scale);
  let max = -Infinity;
  for (let j = 0; j < count; j++) {
    let dot = 0;
    for (let d = 0; d < headDim; d++) dot += m[qRow + d] * m[kHead + j * kvStride + d];
    row[j] = dot * factor;
    max = Math.max(max, row[j]);
  }
  let sum = 0;
  for (let j = 0; j < count; j++) {
    row[j] = Math.exp(row[j] - max);
    sum += row[j];
  }
  for (let j = 0; j < count; j++) row[j] /= sum;
}

/**
 * For items first ≤ b·heads + h < last: P_ij = softmax over j ≤ keys − queries + i of scale·q_i·k_j,
 * out_i = Σ_j P_ij·M_ij·v_j (M the mask, 1 without); probs [batch, heads, queries, keys] receives P and
 * 0 at the invisible keys.  "="
 */
export function attention_forward(
  m: Floats, out: number, probs: number, mask: number, q: number, k: number, v: number, batch: number, heads: number, headDim: number,
  queries: number, keys: number, qStride: number, kvStride: number, outStride: number, scale: number, first: number, last: number,
): void {
  if (row.length < keys) row = new Float64Array(keys);
  for (let item = first; item < last; item++) {
    const b = Math.floor(item / heads);
    const column = (item % heads) * headDim;
    for (let i = 0; i < queries; i++) {
      const count = keys - queries + i + 1;
      const qRow = q + (b * queries + i) * qStride + column;
      const kHead = k + b * keys * kvStride + column;
      const vHead = v + b * keys * kvStride + column;
      const outRow = out + (b * queries + i) * outStride + column;
      const probsRow = (item * queries + i) * keys;
      probabilityRow(m, qRow, kHead, kvStride, headDim, count, scale);
      if (probs >= 0) for (let j = 0; j < keys; j++) m[probs + probsRow + j] = j < count ? row[j] : 0;
      for (let d = 0; d < headDim; d++) {
        let sum = 0;
        for (let j = 0; j < count; j++) sum += row[j] * (mask >= 0 ? m[mask + probsRow + j] : 1) * m[vHead + j * kvStride + d];
        m[outRow + d] = sum;
      }
    }
  }
}

/**
 * For items first ≤ b·heads + h < last, with dP_ij = M_ij·(dout_i·v_j), c_i = Σ_j P_ij·dP_ij and dS_ij =
 * P_ij·(dP_ij − c_i): dq_i = scale·Σ_j dS_ij·k_j, dk_j = scale·Σ_i dS_ij·q_i, dv_j = Σ_i P_ij·M_ij·dout_i
 * (dk and dv zeroed first, then summed over i ascending). P from probs, or recomputed where probs < 0.  "="
 */
export function attention_backward(
  m: Floats, dq: number, dk: number, dv: number, dout: number, probs: number, mask: number, q: number, k: number, v: number,
  batch: number, heads: number, headDim: number, queries: number, keys: number, qStride: number, kvStride: number, outStride: number,
  scale: number, first: number, last: number,
): void {
  if (row.length < keys) row = new Float64Array(keys);
  if (gradRow.length < keys) gradRow = new Float64Array(keys);
  const factor = Math.fround(scale);
  for (let item = first; item < last; item++) {
    const b = Math.floor(item / heads);
    const column = (item % heads) * headDim;
    const kHead = k + b * keys * kvStride + column;
    const vHead = v + b * keys * kvStride + column;
    const dkHead = dk + b * keys * kvStride + column;
    const dvHead = dv + b * keys * kvStride + column;
    for (let j = 0; j < keys; j++) {
      m.fill(0, dkHead + j * kvStride, dkHead + j * kvStride + headDim);
      m.fill(0, dvHead + j * kvStride, dvHead + j * kvStride + headDim);
    }
    for (let i = 0; i < queries; i++) {
      const count = keys - queries + i + 1;
      const qRow = q + (b * queries + i) * qStride + column;
      const dqRow = dq + (b * queries + i) * qStride + column;
      const doutRow = dout + (b * queries + i) * outStride + column;
      const probsRow = (item * queries + i) * keys;
      if (probs >= 0) for (let j = 0; j < count; j++) row[j] = m[probs + probsRow + j];
      else probabilityRow(m, qRow, kHead, kvStride, headDim, count, scale);
      let c = 0;
      for (let j = 0; j < count; j++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += m[doutRow + d] * m[vHead + j * kvStride + d];
        gradRow[j] = (mask >= 0 ? m[mask + probsRow + j] : 1) * dot;
        c += row[j] * gradRow[j];
      }
      for (let j = 0; j < count; j++) {
        const weight = row[j] * (mask >= 0 ? m[mask + probsRow + j] : 1);
        gradRow[j] = factor * row[j] * (gradRow[j] - c);
        for (let d = 0; d < headDim; d++) {
          m[dkHead + j * kvStride + d] += gradRow[j] * m[qRow + d];
          m[dvHead + j * kvStride + d] += weight * m[doutRow + d];
        }
      }
      for (let d = 0; d < headDim; d++) {
        let sum = 0;
        for (let j = 0; j < count; j++) sum += gradRow[j] * m[kHead + j * kvStride + d];
        m[dqRow + d] = sum;
      }
    }
  }
}
