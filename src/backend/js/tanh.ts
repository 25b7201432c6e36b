// Tanh twins over n contiguous elements at element indices of m; backward may run in place (dz = da).
import type { Floats } from './floats.js';

/** out = tanh(z) */
export function tanh_forward(m: Floats, out: number, z: number, n: number): void {
  for (let i = 0; i < n; i++) m[out + i] = Math.tanh(m[z + i]);
}

/** dz = da · (1 − a²), from the activation's output a.  "=" */
export function tanh_backward(m: Floats, dz: number, da: number, a: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const activation = m[a + i];
    m[dz + i] = m[da + i] * (1 - activation * activation);
  }
}
