// Sigmoid twins over n contiguous elements at element indices of m; backward may run in place (dz = da).
import type { Floats } from './floats.js';
import { sigmoid } from './math.js';

/** out = 1 / (1 + e^−z) */
export function sigmoid_forward(m: Floats, out: number, z: number, n: number): void {
  for (let i = 0; i < n; i++) m[out + i] = sigmoid(m[z + i]);
}

/** dz = da · a·(1 − a), from the activation's output a.  "=" */
export function sigmoid_backward(m: Floats, dz: number, da: number, a: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const activation = m[a + i];
    m[dz + i] = m[da + i] * activation * (1 - activation);
  }
}
