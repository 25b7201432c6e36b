// The mean of the values as a loss (no targets) twin, at element indices of m.
import type { Floats } from './floats.js';

/** loss = mean of the n values; grad = 1/n everywhere.  "=" */
export function mean_loss(m: Floats, grad: number, values: number, n: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += m[values + i];
  m.fill(1 / n, grad, grad + n);
  return total / n;
}
