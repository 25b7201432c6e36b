// ReLU twins over n contiguous elements at element indices of m; backward may run in place (dz = da).
import type { Floats } from './floats.js';

/** out = max(z, 0) */
export function relu_forward(m: Floats, out: number, z: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const value = m[z + i];
    m[out + i] = value > 0 ? value : 0;
  }
}

/** dz = da · (a > 0), from the activation's output a.  "=" */
export function relu_backward(m: Floats, dz: number, da: number, a: number, n: number): void {
  for (let i = 0; i < n; i++) m[dz + i] = m[a + i] > 0 ? m[da + i] : 0;
}
