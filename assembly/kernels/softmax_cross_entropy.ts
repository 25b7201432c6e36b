// Softmax fused with cross-entropy over [rows × cols] logits: writes the gradient (p − y)/rows and
// returns the loss averaged over rows. Labels are int32 class indices, or target rows.
import { scale } from './elementwise';
import { rowMax, expShifted } from './softmax';
import { Int32Ptr } from './pointers';

/**
 * grad = (softmax(logits) − onehot(labels))/rows; returns mean(logsumexp − logit[label]). Each int32 label
 * is in [0, cols): callers check, the kernel does not.  "="
 */
export function softmax_cross_entropy_labels(grad: usize, logits: usize, labels: Int32Ptr, rows: i32, cols: i32): f64 {
  const rowBytes = <usize>cols << 2;
  const inverseRows: f32 = 1 / <f32>rows;
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const zr = logits + <usize>r * rowBytes;
    const gr = grad + <usize>r * rowBytes;
    const shift = rowMax(zr, cols);
    const total = expShifted(gr, zr, cols, shift);
    const label = load<i32>(labels + (<usize>r << 2));
    const labelOffset = <usize>label << 2;
    loss += <f64>shift + Math.log(<f64>total) - <f64>load<f32>(zr + labelOffset);
    scale(gr, cols, inverseRows / total);
    store<f32>(gr + labelOffset, load<f32>(gr + labelOffset) - inverseRows);
  }
  return loss / <f64>rows;
}

/** grad = (softmax(logits) − y)/rows; returns mean over rows of −Σ y·log softmax.  "=" */
export function softmax_cross_entropy_targets(grad: usize, logits: usize, targets: usize, rows: i32, cols: i32): f64 {
  const rowBytes = <usize>cols << 2;
  const inverseRows: f32 = 1 / <f32>rows;
  const inverseRowsVector = f32x4.splat(inverseRows);
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const rowOffset = <usize>r * rowBytes;
    const zr = logits + rowOffset;
    const gr = grad + rowOffset;
    const yr = targets + rowOffset;
    const shift = rowMax(zr, cols);
    const total = expShifted(gr, zr, cols, shift);
    const logTotal = <f64>shift + Math.log(<f64>total);
    scale(gr, cols, inverseRows / total);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const offset = <usize>j << 2;
      v128.store(gr + offset, f32x4.sub(v128.load(gr + offset), f32x4.mul(v128.load(yr + offset), inverseRowsVector)));
    }
    for (; j < cols; j++) {
      const offset = <usize>j << 2;
      store<f32>(gr + offset, load<f32>(gr + offset) - load<f32>(yr + offset) * inverseRows);
    }
    for (j = 0; j < cols; j++) {
      const offset = <usize>j << 2;
      const y = load<f32>(yr + offset);
      if (y != 0) loss -= <f64>y * (<f64>load<f32>(zr + offset) - logTotal);
    }
  }
  return loss / <f64>rows;
}
