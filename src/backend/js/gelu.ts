// GELU (tanh approximation) twins over n contiguous elements at element indices of m;
// backward may run in place (dz = da).
import type { Floats } from './floats.js';
import { gelu, geluDerivative } from './math.js';

/** out = 0.5·z·(1 + tanh(√(2/π)·(z + 0.044715·z³))) */
export function gelu_forward(m: Floats, out: number, z: number, n: number): void {
  for (let i = 0; i < n; i++) m[out + i] = gelu(m[z + i]);
}

/** dz = da · gelu'(z), from the pre-activation z.  "=" */
export function gelu_backward(m: Floats, dz: number, da: number, z: number, n: number): void {
  for (let i = 0; i < n; i++) m[dz + i] = m[da + i] * geluDerivative(m[z + i]);
}
