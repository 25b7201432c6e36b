// Grouped and depthwise convolutions against PyTorch: reference cases made by
// test/fixtures/torch/make_grouped_conv_fixtures.py (committed as grouped_conv.json, so CI needs no
// PyTorch). Each case's weights, in PyTorch's layout, go in through loadStateDict from safetensors bytes
// built here; simdprop's layer then gives PyTorch's output and, from the same upstream gradient, its
// input, weight and bias gradients (the weight's compared in PyTorch's layout).
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { toTorch } from '../../src/graph/serialize.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { conv1d, conv2d, init, input, Model, type ConvOptions } from '../../src/index.js';
import { expectClose, ofTensor } from '../tolerance.js';

interface ConvCase {
  name: string;
  kind: 'conv2d' | 'conv1d';
  inChannels: number;
  outChannels: number;
  kernelSize: number | [number, number];
  options: ConvOptions;
  shape: number[];
  batch: number;
  outputShape: number[];
  x: number[];
  weightShape: number[];
  weight: number[];
  bias: number[];
  upstream: number[];
  output: number[];
  inputGrad: number[];
  weightGrad: number[];
  biasGrad: number[];
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/torch/grouped_conv.json', import.meta.url), 'utf8')) as { cases: ConvCase[] };

/** Relative to each value, floored at 1e-2 of the tensor's largest: float32 sums in another order. */
const TOLERANCE = 1e-5;

beforeAll(async () => {
  await init({ threads: 1 });
});

function modelOf(c: ConvCase, backend: 'wasm' | 'js'): Model {
  const x = input(c.shape);
  const options = { ...c.options, name: 'conv' };
  const layer = c.kind === 'conv2d' ? conv2d(c.inChannels, c.outChannels, c.kernelSize, options) : conv1d(c.inChannels, c.outChannels, c.kernelSize as number, options);
  const y = layer.apply(x);
  expect(y.shape).toEqual(c.outputShape);
  return new Model({ inputs: x, outputs: y }, { backend, seed: 1 });
}

const stateDict = (c: ConvCase): Uint8Array => writeSafetensors([
  ['conv.weight', { dtype: 'F32', shape: c.weightShape, data: Float32Array.from(c.weight) }],
  ['conv.bias', { dtype: 'F32', shape: [c.outChannels], data: Float32Array.from(c.bias) }],
], {});

/** The largest error, relative to the tensor's largest magnitude, of every comparison: for the report. */
let worst = 0;

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  const scale = Math.max(...Array.from(expected, Math.abs));
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / scale);
  expectClose(actual, expected, ofTensor(expected, TOLERANCE), what);
}

describe('grouped and depthwise convolutions against PyTorch', () => {
  it('the fixture covers depthwise, groups 2, a channel multiplier and conv1d', () => {
    const kinds = fixture.cases.map((c) => (c.options.groups === c.inChannels ? (c.outChannels === c.inChannels ? 'depthwise' : 'multiplier') : 'grouped'));
    expect(new Set(kinds)).toEqual(new Set(['depthwise', 'grouped', 'multiplier']));
    expect(fixture.cases.some((c) => c.kind === 'conv1d')).toBe(true);
  });

  for (const c of fixture.cases) {
    for (const backend of ['wasm', 'js'] as const) {
      it(`${c.name} (${backend}): loadStateDict, then PyTorch's output and input, weight and bias gradients`, () => {
        const model = modelOf(c, backend);
        expect(model.loadStateDict(stateDict(c))).toEqual({ missingKeys: [], unexpectedKeys: [] });
        const output = (model.forward(Float32Array.from(c.x)) as Float32Array).slice();
        expectNear(output, c.output, `${c.name} output`);
        model.zeroGrad();
        model.backward(Float32Array.from(c.upstream));
        expectNear(model.inputGrad(), c.inputGrad, `${c.name} input gradient`);
        const weight = model.plan.parameters.find((p) => p.name === 'conv.weight')!;
        const grads = Object.fromEntries(model.namedParameters().map((p) => [p.name, p.grad.slice()]));
        expectNear(toTorch(grads['conv.weight'], weight.shape, weight.torch), c.weightGrad, `${c.name} weight gradient`);
        expectNear(grads['conv.bias'], c.biasGrad, `${c.name} bias gradient`);
        // And back out: the state dict gives PyTorch's weight as it came in.
        const saved = model.stateDict().find((t) => t.name === 'conv.weight')!;
        expect(Array.from(saved.data as Float32Array)).toEqual(Array.from(Float32Array.from(c.weight)));
        model.dispose();
      });
    }
  }

  it('the worst error is far inside the tolerance', () => {
    console.log(`grouped conv against PyTorch: worst error ${worst.toExponential(2)} of the tensor's largest magnitude`);
    expect(worst).toBeLessThan(TOLERANCE);
  });
});
