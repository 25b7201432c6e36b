// The pooling layers against PyTorch: reference cases made by test/fixtures/torch/make_pool_fixtures.py
// (committed as pool.json, so CI needs no PyTorch), each one module on a channels-last batch. simdprop's
// layer of the same options gives PyTorch's output and, from the same upstream gradient, its input gradient.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  avgPool1d, avgPool2d, globalAvgPool1d, globalAvgPool2d, init, input, maxPool1d, maxPool2d, Model, type Layer,
} from '../../src/index.js';
import { exact, expectClose, FLOAT32_EPSILON as EPS, largestMagnitude, mixed } from '../tolerance.js';

interface PoolCase {
  name: string;
  kind: 'maxPool2d' | 'avgPool2d' | 'globalAvgPool2d' | 'maxPool1d' | 'avgPool1d' | 'globalAvgPool1d';
  options: { kernelSize?: number | [number, number]; stride?: number | [number, number]; padding?: number | [number, number]; countIncludePad?: boolean };
  shape: number[];
  outputShape: number[];
  batch: number;
  x: number[];
  upstream: number[];
  output: number[];
  inputGrad: number[];
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/torch/pool.json', import.meta.url), 'utf8')) as { cases: PoolCase[] };

beforeAll(async () => {
  await init({ threads: 1 });
});

function layerOf(c: PoolCase): Layer {
  const { kernelSize, ...rest } = c.options;
  switch (c.kind) {
    case 'maxPool2d': return maxPool2d(kernelSize!, rest);
    case 'avgPool2d': return avgPool2d(kernelSize!, rest);
    case 'globalAvgPool2d': return globalAvgPool2d();
    case 'maxPool1d': return maxPool1d(kernelSize as number, rest as never);
    case 'avgPool1d': return avgPool1d(kernelSize as number, rest as never);
    case 'globalAvgPool1d': return globalAvgPool1d();
  }
}

describe('pooling layers against PyTorch', () => {
  it('the fixture covers every pooling kind', () => {
    expect(new Set(fixture.cases.map((c) => c.kind)).size).toBe(6);
  });

  for (const c of fixture.cases) {
    for (const backend of ['wasm', 'js'] as const) {
      it(`${c.name} (${backend}): output and input gradient`, () => {
        const x = input(c.shape);
        const y = layerOf(c).apply(x);
        expect(y.shape).toEqual(c.outputShape);
        const model = new Model({ inputs: x, outputs: y }, { backend });
        const output = (model.forward(Float32Array.from(c.x)) as Float32Array).slice();
        model.backward(Float32Array.from(c.upstream));
        const inputGrad = model.inputGrad().slice();
        // The fixture's 9 significant digits name float32 values exactly.
        const [expectedOutput, expectedGrad] = [Float32Array.from(c.output), Float32Array.from(c.inputGrad)];
        if (c.kind.startsWith('max')) {
          // A max picks an element and its gradient goes back to it, summed in output order as PyTorch does.
          expectClose(output, expectedOutput, exact, `${c.name} output`);
          expectClose(inputGrad, expectedGrad, exact, `${c.name} input gradient`);
        } else {
          // Sums of at most every position of a channel in float32, rounded as PyTorch's or nearly.
          const positions = c.shape.slice(0, -1).reduce((product, d) => product * d, 1);
          expectClose(output, expectedOutput, mixed((positions + 2) * EPS * largestMagnitude(c.x), 4 * EPS), `${c.name} output`);
          expectClose(inputGrad, expectedGrad, mixed(16 * EPS * largestMagnitude(c.upstream), 4 * EPS), `${c.name} input gradient`);
        }
        model.dispose();
      });
    }
  }
});
