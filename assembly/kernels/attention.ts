// Causal self-attention over row-major float32 rows: per work item (sample b, head h), the headDim
// columns from h·headDim of each query, key and value row. A head's keys (and, for the backward, its
// values) are packed transposed into scratch in panels of 16 keys, headDim × (keys rounded up to 4)
// floats in all, so that one query row's scores run 4 keys to a vector, and only as far as the last key
// it sees (rounded up to 4).
//
// Every sum runs in one fixed order (over d ascending for a score, over keys ascending for an output
// row, over queries ascending for a key's gradient) whichever block of vectors or scalar tail computes
// it, and items share nothing but the scratch they rewrite: a split of the items between threads gives
// the same bits. The probabilities come from probabilityRow alone, forward and recomputed alike.
import { fill, scale as scaleRow } from './elementwise';
import { mul } from './dropout';
import { madd, storeTransposed } from './gemm';
import { expShifted, rowMax, softmax_backward } from './softmax';

// A packed head holds keys in panels of 16, [headDim × 16] floats each (the last one [headDim × the
// remaining keys rounded up to 4]): a block of 16 scores reads one contiguous panel, where a line of all
// the keys per d would step by a multiple of 4 KiB at lengths of 1024 and alias in the L1 cache. In all
// headDim × (keys rounded up to 4) floats. Key j's line 0 is at panelOffset(j), its line d width·d floats on.
@inline function panelOffset(j: i32, headDim: i32): usize {
  return (<usize>(j & ~15) * <usize>headDim + <usize>(j & 15)) << 2;
}

// The width of key j's panel: 16, or the last one's remaining keys rounded up to 4.
@inline function panelWidth(j: i32, keys: i32): i32 {
  return (j | 15) < keys ? 16 : ((keys & 15) + 3) & ~3;
}

// rows[j][d] for j < keys, d < headDim (rows rowBytes apart, from the head's first column) packed in
// panels, 4 keys × 4 columns transposed in registers at a time. The lanes from keys to the last panel's
// width are left as they are: no visible key reads them.
@inline function packHead(packed: usize, rows: usize, rowBytes: usize, keys: i32, headDim: i32): void {
  let j = 0;
  for (; j + 4 <= keys; j += 4) {
    const source = rows + <usize>j * rowBytes;
    const target = packed + panelOffset(j, headDim);
    const lineBytes = <usize>panelWidth(j, keys) << 2;
    let d = 0;
    for (; d + 4 <= headDim; d += 4) {
      const s = source + (<usize>d << 2);
      storeTransposed(target + <usize>d * lineBytes, lineBytes,
        v128.load(s), v128.load(s + rowBytes), v128.load(s + 2 * rowBytes), v128.load(s + 3 * rowBytes));
    }
    for (; d < headDim; d++) {
      const line = target + <usize>d * lineBytes;
      for (let t = 0; t < 4; t++) store<f32>(line + (<usize>t << 2), load<f32>(source + <usize>t * rowBytes + (<usize>d << 2)));
    }
  }
  for (; j < keys; j++) {
    const source = rows + <usize>j * rowBytes;
    const target = packed + panelOffset(j, headDim);
    const lineBytes = <usize>panelWidth(j, keys) << 2;
    for (let d = 0; d < headDim; d++) store<f32>(target + <usize>d * lineBytes, load<f32>(source + (<usize>d << 2)));
  }
}

// row[j] = factor·Σ_d x[d]·packed[d][j] for j < count rounded up to 4 (lanes from count on are not
// read by the callers): 16 keys (a whole panel: it is 16 wide wherever 16 lanes fit below keys rounded
// up to 4) at a time in four chains, then 4, each key's sum over d ascending.
@inline function dotsRow(row: usize, x: usize, packed: usize, keys: i32, count: i32, headDim: i32, factor: f32): void {
  const factors = f32x4.splat(factor);
  const end = (count + 3) & ~3;
  let j = 0;
  for (; j + 16 <= end; j += 16) {
    let line = packed + panelOffset(j, headDim);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let d = 0; d < headDim; d++) {
      const xd = v128.load32_splat(x + (<usize>d << 2));
      a0 = madd(a0, xd, v128.load(line));
      a1 = madd(a1, xd, v128.load(line, 16));
      a2 = madd(a2, xd, v128.load(line, 32));
      a3 = madd(a3, xd, v128.load(line, 48));
      line += 64;
    }
    const target = row + (<usize>j << 2);
    v128.store(target, f32x4.mul(a0, factors));
    v128.store(target, f32x4.mul(a1, factors), 16);
    v128.store(target, f32x4.mul(a2, factors), 32);
    v128.store(target, f32x4.mul(a3, factors), 48);
  }
  for (; j < end; j += 4) {
    let line = packed + panelOffset(j, headDim);
    const lineBytes = <usize>panelWidth(j, keys) << 2;
    let a0 = f32x4.splat(0);
    for (let d = 0; d < headDim; d++) {
      a0 = madd(a0, v128.load32_splat(x + (<usize>d << 2)), v128.load(line));
      line += lineBytes;
    }
    v128.store(row + (<usize>j << 2), f32x4.mul(a0, factors));
  }
}

// target[j] = softmax over j < count of scores[j] = scale·q·kⱼ (max subtracted, as softmax_forward):
// the forward's saved row and the backward's recomputed one both come from here, so they agree bit for
// bit. target may be scores.
@inline function probabilityRow(
  target: usize, scores: usize, q: usize, packedKeys: usize, keys: i32, count: i32, headDim: i32, scale: f32,
): void {
  dotsRow(scores, q, packedKeys, keys, count, headDim, scale);
  const total = expShifted(target, scores, count, rowMax(scores, count));
  scaleRow(target, count, 1 / total);
}

// weights[j], times mask[j] where mask ≠ 0.
@inline function weightAt(weights: usize, mask: usize, j: i32): f32 {
  const w = load<f32>(weights + (<usize>j << 2));
  return mask != 0 ? w * load<f32>(mask + (<usize>j << 2)) : w;
}

// out[d] = Σ_{j < count} w_j·rows[j][d] for d < headDim, j ascending, w_j = weightAt(weights, mask, j):
// 16 columns at a time in four accumulators, then 4, then one.  "="
@inline function weightedRows(out: usize, weights: usize, mask: usize, rows: usize, rowBytes: usize, count: i32, headDim: i32): void {
  let d = 0;
  for (; d + 16 <= headDim; d += 16) {
    let source = rows + (<usize>d << 2);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let j = 0; j < count; j++) {
      const w = f32x4.splat(weightAt(weights, mask, j));
      a0 = madd(a0, w, v128.load(source));
      a1 = madd(a1, w, v128.load(source, 16));
      a2 = madd(a2, w, v128.load(source, 32));
      a3 = madd(a3, w, v128.load(source, 48));
      source += rowBytes;
    }
    const target = out + (<usize>d << 2);
    v128.store(target, a0);
    v128.store(target, a1, 16);
    v128.store(target, a2, 32);
    v128.store(target, a3, 48);
  }
  for (; d + 4 <= headDim; d += 4) {
    let source = rows + (<usize>d << 2);
    let a0 = f32x4.splat(0);
    for (let j = 0; j < count; j++) {
      a0 = madd(a0, f32x4.splat(weightAt(weights, mask, j)), v128.load(source));
      source += rowBytes;
    }
    v128.store(out + (<usize>d << 2), a0);
  }
  for (; d < headDim; d++) {
    let source = rows + (<usize>d << 2);
    let sum: f32 = 0;
    for (let j = 0; j < count; j++) {
      sum += weightAt(weights, mask, j) * load<f32>(source);
      source += rowBytes;
    }
    store<f32>(out + (<usize>d << 2), sum);
  }
}

// rows[j][d] += w_j·x[d] for j < count, d < headDim, w_j = weightAt(weights, mask, j): x held in
// registers 16 columns at a time while the rows pass.  "+="
@inline function addWeightedRows(rows: usize, rowBytes: usize, weights: usize, mask: usize, x: usize, count: i32, headDim: i32): void {
  let d = 0;
  for (; d + 16 <= headDim; d += 16) {
    const xs = x + (<usize>d << 2);
    const x0 = v128.load(xs), x1 = v128.load(xs, 16), x2 = v128.load(xs, 32), x3 = v128.load(xs, 48);
    let target = rows + (<usize>d << 2);
    for (let j = 0; j < count; j++) {
      const w = f32x4.splat(weightAt(weights, mask, j));
      v128.store(target, madd(v128.load(target), w, x0));
      v128.store(target, madd(v128.load(target, 16), w, x1), 16);
      v128.store(target, madd(v128.load(target, 32), w, x2), 32);
      v128.store(target, madd(v128.load(target, 48), w, x3), 48);
      target += rowBytes;
    }
  }
  for (; d + 4 <= headDim; d += 4) {
    const x0 = v128.load(x + (<usize>d << 2));
    let target = rows + (<usize>d << 2);
    for (let j = 0; j < count; j++) {
      v128.store(target, madd(v128.load(target), f32x4.splat(weightAt(weights, mask, j)), x0));
      target += rowBytes;
    }
  }
  for (; d < headDim; d++) {
    const xd = load<f32>(x + (<usize>d << 2));
    let target = rows + (<usize>d << 2);
    for (let j = 0; j < count; j++) {
      store<f32>(target, load<f32>(target) + weightAt(weights, mask, j) * xd);
      target += rowBytes;
    }
  }
}

/**
 * Causal self-attention, items first ≤ b·heads + h < last of [batch × heads]. Sample b's query rows i <
 * queries start at q + 4·(b·queries + i)·qStride, its key and value rows j < keys at k and v + 4·(b·keys +
 * j)·kvStride, its output rows at out + 4·(b·queries + i)·outStride (strides in floats); head h is the
 * headDim columns from h·headDim of each row (a fused [batch, T, 3C] qkv: k = q + 4C, v = q + 8C bytes,
 * qStride = kvStride = 3C). Query i sits at position keys − queries + i and sees the keys j ≤ keys −
 * queries + i (keys ≥ queries ≥ 1); no score past them (rounded up to 4) is computed. P_ij = softmax
 * over the visible j of scale·qᵢ·kⱼ (the max subtracted), out_i = Σⱼ P_ij·M_ij·vⱼ over the head's columns, M_ij = mask's
 * element (0 or 1/(1 − p): dropout of the probabilities) where mask ≠ 0, else 1. probs ≠ 0 receives P
 * [batch, heads, queries, keys] (row ((b·heads + h)·queries + i)·keys, 0 at the invisible keys; mask has
 * this layout too). Scratch: attentionScratchBytes(headDim, keys).  "="
 */
export function attention_forward(
  out: usize, probs: usize, mask: usize, q: usize, k: usize, v: usize, batch: i32, heads: i32, headDim: i32, queries: i32, keys: i32,
  qStride: i32, kvStride: i32, outStride: i32, scale: f32, first: i32, last: i32, scratch: usize,
): void {
  const paddedKeys = (keys + 3) & ~3;
  // Scratch as the backward lays it out: Kᵀ, Vᵀ (unused here), then a row of scores.
  const packedKeys = scratch;
  const scores = scratch + ((<usize>headDim * <usize>paddedKeys) << 3);
  const qRowBytes = <usize>qStride << 2;
  const kvRowBytes = <usize>kvStride << 2;
  const outRowBytes = <usize>outStride << 2;
  const shift = keys - queries;
  for (let item = first; item < last; item++) {
    const b = <usize>(item / heads);
    const column = <usize>(item % heads * headDim) << 2;
    const qHead = q + b * <usize>queries * qRowBytes + column;
    const outHead = out + b * <usize>queries * outRowBytes + column;
    const kvOffset = b * <usize>keys * kvRowBytes + column;
    packHead(packedKeys, k + kvOffset, kvRowBytes, keys, headDim);
    for (let i = 0; i < queries; i++) {
      const count = shift + i + 1;
      const rowOffset = (<usize>item * <usize>queries + <usize>i) * <usize>keys << 2;
      const probabilities = probs != 0 ? probs + rowOffset : scores;
      probabilityRow(probabilities, scores, qHead + <usize>i * qRowBytes, packedKeys, keys, count, headDim, scale);
      if (probs != 0) fill(probabilities + (<usize>count << 2), keys - count, 0);
      weightedRows(outHead + <usize>i * outRowBytes, probabilities, mask != 0 ? mask + rowOffset : 0, v + kvOffset, kvRowBytes, count, headDim);
    }
  }
}

/**
 * The gradients of attention_forward for items first ≤ b·heads + h < last, over the head's columns:
 * with dP_ij = M_ij·(dout_i·vⱼ), c_i = Σⱼ P_ij·dP_ij and dS_ij = P_ij·(dP_ij − c_i) over the visible j,
 * dq_i = scale·Σⱼ dS_ij·kⱼ, dk_j = scale·Σᵢ dS_ij·qᵢ and dv_j = Σᵢ P_ij·M_ij·dout_i, the last two over
 * all `keys` rows, zeroed first and summed over i ascending. dq, dk and dv sit as q, k and v do (qStride,
 * kvStride), dout as out (outStride), and must not overlap the inputs. P is read from probs (the
 * forward's) where probs ≠ 0, else recomputed from q and k by the forward's code, the same bits. The
 * layout, the causal rule and mask are attention_forward's. Scratch: attentionScratchBytes(headDim,
 * keys).  "="
 */
export function attention_backward(
  dq: usize, dk: usize, dv: usize, dout: usize, probs: usize, mask: usize, q: usize, k: usize, v: usize,
  batch: i32, heads: i32, headDim: i32, queries: i32, keys: i32, qStride: i32, kvStride: i32, outStride: i32, scale: f32,
  first: i32, last: i32, scratch: usize,
): void {
  const paddedKeys = (keys + 3) & ~3;
  const packedKeys = scratch;
  const packedValues = scratch + ((<usize>headDim * <usize>paddedKeys) << 2);
  const scores = scratch + ((<usize>headDim * <usize>paddedKeys) << 3);
  const grads = scores + (<usize>paddedKeys << 2);
  const qRowBytes = <usize>qStride << 2;
  const kvRowBytes = <usize>kvStride << 2;
  const outRowBytes = <usize>outStride << 2;
  const shift = keys - queries;
  for (let item = first; item < last; item++) {
    const b = <usize>(item / heads);
    const column = <usize>(item % heads * headDim) << 2;
    const qOffset = b * <usize>queries * qRowBytes + column;
    const kvOffset = b * <usize>keys * kvRowBytes + column;
    const doutHead = dout + b * <usize>queries * outRowBytes + column;
    if (probs == 0) packHead(packedKeys, k + kvOffset, kvRowBytes, keys, headDim);
    packHead(packedValues, v + kvOffset, kvRowBytes, keys, headDim);
    for (let j = 0; j < keys; j++) {
      fill(dk + kvOffset + <usize>j * kvRowBytes, headDim, 0);
      fill(dv + kvOffset + <usize>j * kvRowBytes, headDim, 0);
    }
    for (let i = 0; i < queries; i++) {
      const count = shift + i + 1;
      const rowOffset = (<usize>item * <usize>queries + <usize>i) * <usize>keys << 2;
      const qRow = q + qOffset + <usize>i * qRowBytes;
      const doutRow = doutHead + <usize>i * outRowBytes;
      const maskRow = mask != 0 ? mask + rowOffset : 0;
      let probabilities = probs + rowOffset;
      if (probs == 0) {
        probabilities = scores;
        probabilityRow(scores, scores, qRow, packedKeys, keys, count, headDim, scale);
      }
      addWeightedRows(dv + kvOffset, kvRowBytes, probabilities, maskRow, doutRow, count, headDim);
      // grads = dP, then scale·dS: softmax_backward's row, scaled.
      dotsRow(grads, doutRow, packedValues, keys, count, headDim, 1);
      if (mask != 0) mul(grads, grads, maskRow, count);
      softmax_backward(grads, grads, probabilities, 1, count);
      scaleRow(grads, count, scale);
      weightedRows(dq + qOffset + <usize>i * qRowBytes, grads, 0, k + kvOffset, kvRowBytes, count, headDim);
      addWeightedRows(dk + kvOffset, kvRowBytes, grads, 0, qRow, count, headDim);
    }
  }
}
