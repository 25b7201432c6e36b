// Row-wise softmax over a [rows × cols] float32 matrix (max subtracted first); the backward reads
// the forward's output a. The row helpers here also serve softmax cross-entropy.
import { scale } from './elementwise';
import { horizontalSum, lane0, vexpBelow88 } from './vmath';

@inline export function rowMax(z: usize, cols: i32): f32 {
  let best = f32x4.splat(-Infinity);
  let j = 0;
  for (; j + 4 <= cols; j += 4) best = f32x4.max(best, v128.load(z + (<usize>j << 2)));
  let result = max(max(f32x4.extract_lane(best, 0), f32x4.extract_lane(best, 1)), max(f32x4.extract_lane(best, 2), f32x4.extract_lane(best, 3)));
  for (; j < cols; j++) result = max(result, load<f32>(z + (<usize>j << 2)));
  return result;
}

// out[j] = e^(z[j] − shift) for shift the row's max (no exponent is positive); returns Σ out[j]. out may alias z.
@inline export function expShifted(out: usize, z: usize, cols: i32, shift: f32): f32 {
  const shifts = f32x4.splat(shift);
  let sums = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= cols; j += 4) {
    const offset = <usize>j << 2;
    const e = vexpBelow88(f32x4.sub(v128.load(z + offset), shifts));
    v128.store(out + offset, e);
    sums = f32x4.add(sums, e);
  }
  let total = horizontalSum(sums);
  for (; j < cols; j++) {
    const offset = <usize>j << 2;
    const e = lane0(vexpBelow88(f32x4.splat(load<f32>(z + offset) - shift)));
    store<f32>(out + offset, e);
    total += e;
  }
  return total;
}

/** out[r, ·] = softmax(z[r, ·]) for each row.  "=" */
export function softmax_forward(out: usize, z: usize, rows: i32, cols: i32): void {
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const zr = z + <usize>r * rowBytes;
    const outRow = out + <usize>r * rowBytes;
    const total = expShifted(outRow, zr, cols, rowMax(zr, cols));
    scale(outRow, cols, 1 / total);
  }
}

/** dz = a ⊙ (da − Σⱼ daⱼ·aⱼ) per row; dz may alias da.  "=" */
export function softmax_backward(dz: usize, da: usize, a: usize, rows: i32, cols: i32): void {
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const rowOffset = <usize>r * rowBytes;
    let sums = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const offset = rowOffset + (<usize>j << 2);
      sums = f32x4.add(sums, f32x4.mul(v128.load(da + offset), v128.load(a + offset)));
    }
    let weighted = horizontalSum(sums);
    for (; j < cols; j++) {
      const offset = rowOffset + (<usize>j << 2);
      weighted += load<f32>(da + offset) * load<f32>(a + offset);
    }
    const weightedVector = f32x4.splat(weighted);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const offset = rowOffset + (<usize>j << 2);
      v128.store(dz + offset, f32x4.mul(v128.load(a + offset), f32x4.sub(v128.load(da + offset), weightedVector)));
    }
    for (; j < cols; j++) {
      const offset = rowOffset + (<usize>j << 2);
      store<f32>(dz + offset, load<f32>(a + offset) * (load<f32>(da + offset) - weighted));
    }
  }
}
