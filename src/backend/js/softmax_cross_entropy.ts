// Softmax cross-entropy twins on logits, a row-major [rows × cols] block at element indices of m;
// class labels are int32 at an element index of their own array. grad may alias logits.
import type { Floats } from './floats.js';

/** log Σ_j exp(z_j) of one row, with the row's max factored out so no exponential overflows. */
function logSumExp(m: Floats, row: number, cols: number): number {
  let max = -Infinity;
  for (let j = 0; j < cols; j++) max = Math.max(max, m[row + j]);
  let sum = 0;
  for (let j = 0; j < cols; j++) sum += Math.exp(m[row + j] - max);
  return max + Math.log(sum);
}

/** loss = mean over rows of lse − z[label]; grad = (softmax(z) − onehot(label)) / rows.  "=" */
export function softmax_cross_entropy_labels(
  m: Floats, grad: number, logits: number, labels: Int32Array, labelsIndex: number, rows: number, cols: number,
): number {
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const logitRow = logits + r * cols;
    const gradRow = grad + r * cols;
    const label = labels[labelsIndex + r];
    const lse = logSumExp(m, logitRow, cols);
    loss += lse - m[logitRow + label];
    for (let j = 0; j < cols; j++) {
      const probability = Math.exp(m[logitRow + j] - lse);
      m[gradRow + j] = (j === label ? probability - 1 : probability) / rows;
    }
  }
  return loss / rows;
}

/** loss = mean over rows of −Σ_j y_j·(z_j − lse); grad = (softmax(z) − y) / rows.  "=" */
export function softmax_cross_entropy_targets(
  m: Floats, grad: number, logits: number, targets: number, rows: number, cols: number,
): number {
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const logitRow = logits + r * cols;
    const targetRow = targets + r * cols;
    const gradRow = grad + r * cols;
    const lse = logSumExp(m, logitRow, cols);
    for (let j = 0; j < cols; j++) {
      const logit = m[logitRow + j];
      const target = m[targetRow + j];
      loss -= target * (logit - lse);
      m[gradRow + j] = (Math.exp(logit - lse) - target) / rows;
    }
  }
  return loss / rows;
}
