// The wasm-against-js tests every elementwise activation gets: forward, backward (out of place and
// in place, dz = da) over the tail sizes, and both once more on buffers off the 64-byte alignment.
import { describe, it } from 'vitest';
import type { Kernels } from '../src/backend/kernels.js';
import { onBackend, onBoth, TAIL_SIZES, type BackendPair } from './harness.js';
import { createRandom, mixedValues, type Random } from './random.js';
import { chainRule, exact, expectClose, fewRoundings, transcendental, type Tolerance } from './tolerance.js';

export interface Activation {
  /** The kernels' prefix and any parameter, e.g. "leaky_relu slope=0.01". */
  readonly name: string;
  forward(kernels: Kernels, out: number, z: number, n: number): void;
  /** `source` is the forward output a or the pre-activation z, as `backwardFrom` says. */
  backward(kernels: Kernels, dz: number, da: number, source: number, n: number): void;
  readonly backwardFrom: 'output' | 'preactivation';
  readonly forwardTolerance: Tolerance;
  /** Pre-activations are mostly within ±inputScale, some up to 8 times that. */
  readonly inputScale: number;
}

export function describeActivation(pair: BackendPair, activation: Activation): void {
  const { name } = activation;

  function preactivations(random: Random, n: number): Float32Array {
    return mixedValues(random, n, activation.inputScale);
  }

  /** Upstream gradients and what backward reads: z itself, or a = the JS forward of z on both sides. */
  function backwardInputs(what: string, n: number) {
    const random = createRandom(what);
    const z = preactivations(random, n);
    const upstream = mixedValues(random, n);
    if (activation.backwardFrom === 'preactivation') return { upstream, source: z };
    const a = onBackend(pair.js, (kernels, buffers) => {
      const out = buffers.output(n);
      activation.forward(kernels, out, buffers.input(z), n);
      return buffers.read(out);
    });
    return { upstream, source: a };
  }

  function compareForward(n: number, misalignment: number): void {
    const what = `${name}_forward n=${n}${misalignment ? ' misaligned' : ''}`;
    const z = preactivations(createRandom(what), n);
    const results = onBoth(pair, (kernels, buffers) => {
      const out = buffers.output(n);
      activation.forward(kernels, out, buffers.input(z), n);
      return buffers.read(out);
    }, misalignment);
    expectClose(results.wasm, results.js, activation.forwardTolerance, what);
  }

  function compareBackward(n: number, misalignment: number): void {
    const what = `${name}_backward n=${n}${misalignment ? ' misaligned' : ''}`;
    const { upstream, source } = backwardInputs(what, n);
    const results = onBoth(pair, (kernels, buffers) => {
      const dz = buffers.output(n);
      activation.backward(kernels, dz, buffers.input(upstream), buffers.input(source), n);
      return buffers.read(dz);
    }, misalignment);
    expectClose(results.wasm, results.js, chainRule(upstream), what);
  }

  describe(`${name}: wasm against js`, () => {
    it.each(TAIL_SIZES)('forward n=%i', (n) => compareForward(n, 0));
    it.each(TAIL_SIZES)('backward n=%i', (n) => compareBackward(n, 0));
    it('forward and backward on buffers one element off alignment', () => {
      compareForward(127, 1);
      compareBackward(127, 1);
    });

    it.each(TAIL_SIZES)('backward in place (dz = da) equals out of place, n=%i', (n) => {
      const what = `${name}_backward in place n=${n}`;
      const { upstream, source } = backwardInputs(what, n);
      const results = onBoth(pair, (kernels, buffers) => {
        const sourceOffset = buffers.input(source);
        const outOfPlace = buffers.output(n);
        activation.backward(kernels, outOfPlace, buffers.input(upstream), sourceOffset, n);
        const inPlace = buffers.output(n, upstream);
        activation.backward(kernels, inPlace, inPlace, sourceOffset, n);
        return { outOfPlace: buffers.read(outOfPlace), inPlace: buffers.read(inPlace) };
      });
      expectClose(results.wasm.inPlace, results.wasm.outOfPlace, exact, `${what}: wasm in place against out of place`);
      expectClose(results.js.inPlace, results.js.outOfPlace, exact, `${what}: js in place against out of place`);
      expectClose(results.wasm.inPlace, results.js.inPlace, chainRule(upstream), what);
    });
  });
}

// The activations as the kernel tests and the property tests both describe them: pre-activations are
// mostly within ±inputScale (large values reach 8× that, where sigmoid and tanh saturate in float32).
export const RELU: Activation = {
  name: 'relu',
  forward: (kernels, out, z, n) => kernels.relu_forward(out, z, n),
  backward: (kernels, dz, da, a, n) => kernels.relu_backward(dz, da, a, n),
  backwardFrom: 'output',
  forwardTolerance: exact,
  inputScale: 1,
};

export function leakyRelu(slope: number): Activation {
  return {
    name: `leaky_relu slope=${slope}`,
    forward: (kernels, out, z, n) => kernels.leaky_relu_forward(out, z, n, slope),
    backward: (kernels, dz, da, z, n) => kernels.leaky_relu_backward(dz, da, z, n, slope),
    backwardFrom: 'preactivation',
    forwardTolerance: fewRoundings,
    inputScale: 1,
  };
}

export const SIGMOID: Activation = {
  name: 'sigmoid',
  forward: (kernels, out, z, n) => kernels.sigmoid_forward(out, z, n),
  backward: (kernels, dz, da, a, n) => kernels.sigmoid_backward(dz, da, a, n),
  backwardFrom: 'output',
  forwardTolerance: transcendental,
  inputScale: 4,
};

export const TANH: Activation = {
  name: 'tanh',
  forward: (kernels, out, z, n) => kernels.tanh_forward(out, z, n),
  backward: (kernels, dz, da, a, n) => kernels.tanh_backward(dz, da, a, n),
  backwardFrom: 'output',
  forwardTolerance: transcendental,
  inputScale: 3,
};

export const GELU: Activation = {
  name: 'gelu',
  forward: (kernels, out, z, n) => kernels.gelu_forward(out, z, n),
  backward: (kernels, dz, da, z, n) => kernels.gelu_backward(dz, da, z, n),
  backwardFrom: 'preactivation',
  forwardTolerance: transcendental,
  inputScale: 3,
};
