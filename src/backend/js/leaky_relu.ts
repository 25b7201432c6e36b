// Leaky ReLU twins over n contiguous elements at element indices of m; backward may run in place (dz = da).
import type { Floats } from './floats.js';

/** out = z > 0 ? z : slope·z */
export function leaky_relu_forward(m: Floats, out: number, z: number, n: number, slope: number): void {
  for (let i = 0; i < n; i++) {
    const value = m[z + i];
    m[out + i] = value > 0 ? value : slope * value;
  }
}

/** dz = da · (z > 0 ? 1 : slope), from the pre-activation z.  "=" */
export function leaky_relu_backward(m: Floats, dz: number, da: number, z: number, n: number, slope: number): void {
  for (let i = 0; i < n; i++) {
    const upstream = m[da + i];
    m[dz + i] = m[z + i] > 0 ? upstream : slope * upstream;
  }
}
