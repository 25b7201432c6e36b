// dense_forward: a layer's product and activation in one call, 128 rows at a time. It must give the
// bits of gemm_nn followed by the activation's own kernel, on every build and the JS twin, for every
// activation, with a and z apart or the same buffer, across the 128-row blocks and the narrow (< 4
// columns) and small-product paths.
import { describe, expect, it } from 'vitest';
import { gemmScratchBytes, type Kernels } from '../../src/backend/kernels.js';
import { ACTIVATIONS, activationCode, type ActivationName } from '../../src/activations.js';
import { createBackendPair, onBackend, type Buffers } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';

const pair = await createBackendPair();
const SHAPES: [number, number, number][] = [[1, 3, 5], [3, 1, 4], [17, 16, 4], [129, 7, 9], [300, 17, 3], [5, 1031, 17], [257, 40, 33]];
const SLOPE = 0.07;

// The activation's own kernel, as the model ran it before dense_forward.
function activate(kernels: Kernels, name: ActivationName, a: number, z: number, rows: number, cols: number): void {
  const n = rows * cols;
  if (name === 'relu') kernels.relu_forward(a, z, n);
  else if (name === 'leakyRelu') kernels.leaky_relu_forward(a, z, n, SLOPE);
  else if (name === 'sigmoid') kernels.sigmoid_forward(a, z, n);
  else if (name === 'tanh') kernels.tanh_forward(a, z, n);
  else if (name === 'gelu') kernels.gelu_forward(a, z, n);
  else if (name === 'softmax') kernels.softmax_forward(a, z, rows, cols);
}

const bits = (values: Float32Array): number[] => Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));

describe('dense_forward is gemm_nn then the activation, bit for bit', () => {
  for (const name of ACTIVATIONS) {
    for (const [M, K, N] of SHAPES) {
      for (const inPlace of name === 'linear' ? [false] : [false, true]) {
        it(`${name} M=${M} K=${K} N=${N}${inPlace ? ', a = z' : ''}`, () => {
          const random = createRandom(`dense ${name} ${M} ${K} ${N}`);
          const x = mixedValues(random, M * K);
          const w = mixedValues(random, K * N, 0.3);
          const bias = mixedValues(random, N);
          for (const build of ['wasm', 'relaxed', 'js'] as const) {
            const run = (fused: boolean) => onBackend(pair[build], (kernels: Kernels, buffers: Buffers) => {
              const scratch = buffers.output(gemmScratchBytes(K) / 4, new Float32Array(gemmScratchBytes(K) / 4));
              const z = buffers.output(M * N);
              const a = inPlace ? z : buffers.output(M * N);
              const [xs, ws, bs] = [buffers.input(x), buffers.input(w), buffers.input(bias)];
              if (fused) kernels.dense_forward(z, a, xs, ws, bs, M, K, N, activationCode(name), SLOPE, scratch);
              else {
                kernels.gemm_nn(z, xs, ws, bs, M, K, N, scratch);
                activate(kernels, name, a, z, M, N);
              }
              return { z: buffers.read(z), a: buffers.read(a) };
            });
            const [fused, separate] = [run(true), run(false)];
            if (!inPlace) expect(bits(fused.z)).toEqual(bits(separate.z));
            expect(bits(fused.a)).toEqual(bits(separate.a));
            // It did run: the output is no longer the NaN it was filled with (linear leaves a alone).
            if (name !== 'linear') expect(fused.a.some((v) => !Number.isNaN(v))).toBe(true);
            else expect(fused.z.some((v) => !Number.isNaN(v))).toBe(true);
          }
        });
      }
    }
  }
});
