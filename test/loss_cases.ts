// The wasm-against-js tests every pointwise loss gets (bce, bce_with_logits, mse, huber): the
// gradient and the returned mean over the tail sizes, once more on buffers off the 64-byte alignment.
import { describe, it } from 'vitest';
import type { Kernels } from '../src/backend/kernels.js';
import { onBoth, TAIL_SIZES, type BackendPair } from './harness.js';
import { createRandom, type Random } from './random.js';
import { expectClose, type Tolerance } from './tolerance.js';

export interface PointwiseLoss {
  /** The kernel and any parameter, e.g. "huber delta=0.5". */
  readonly name: string;
  predictions(random: Random, n: number): Float32Array;
  targets(random: Random, n: number): Float32Array;
  run(kernels: Kernels, grad: number, predictions: number, targets: number, n: number): number;
  tolerances(n: number, predictions: Float32Array): { grad: Tolerance; loss: Tolerance };
}

export function describePointwiseLoss(pair: BackendPair, loss: PointwiseLoss): void {
  function compare(n: number, misalignment: number): void {
    const what = `${loss.name} n=${n}${misalignment ? ' misaligned' : ''}`;
    const random = createRandom(what);
    const predictions = loss.predictions(random, n);
    const targets = loss.targets(random, n);
    const results = onBoth(pair, (kernels, buffers) => {
      const grad = buffers.output(n);
      const value = loss.run(kernels, grad, buffers.input(predictions), buffers.input(targets), n);
      return { value, grad: buffers.read(grad) };
    }, misalignment);
    const tolerance = loss.tolerances(n, predictions);
    expectClose(results.wasm.grad, results.js.grad, tolerance.grad, `${what} grad`);
    expectClose(results.wasm.value, results.js.value, tolerance.loss, `${what} loss`);
  }

  describe(`${loss.name}: wasm against js`, () => {
    it.each(TAIL_SIZES)('grad and loss n=%i', (n) => compare(n, 0));
    it('grad and loss on buffers one element off alignment', () => compare(127, 1));
  });
}
