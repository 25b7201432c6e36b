// The one harness every layer goes through, inside small graphs around it (fan-out, shared weights,
// several inputs and outputs): the wasm backend against the js twins, a training step on the tape
// against the same step call by call (bit for bit), and backward against float64 central differences.
import { expect, it } from 'vitest';
import {
  Adam, gradCheck, Model, Rng, type Inputs, type LossSpec, type Tensors, type TargetsFor,
} from '../../src/index.js';
import { expectClose, ofTensor } from '../tolerance.js';

export interface GraphCase {
  name: string;
  /** A fresh graph (new layers) each call. */
  graph(): { inputs: Tensors; outputs: Tensors };
  inputs(rows: number, rng: Rng): Inputs;
  targets(rows: number, rng: Rng): TargetsFor;
  loss: LossSpec;
  lossWeights?: Record<string, number>;
  /** Rows of the batches (default 5). */
  rows?: number;
  /** Relative tolerance of the wasm/js comparison (default 1e-4). */
  tolerance?: number;
}

export function normals(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

export function indices(rng: Rng, n: number, count: number): Int32Array {
  return Int32Array.from({ length: n }, () => rng.below(count));
}

const bits = (values: Float32Array): Uint32Array => new Uint32Array(Float32Array.from(values).buffer);

function views(output: Float32Array | Float32Array[] | Record<string, Float32Array>): Float32Array[] {
  if (output instanceof Float32Array) return [output.slice()];
  return (Array.isArray(output) ? output : Object.values(output)).map((view) => view.slice());
}

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  expectClose(actual, expected, ofTensor(expected, rel, 1e-6), what);
}

// The model's outputs, loss and every gradient after one forward, loss and backward.
function pass(c: GraphCase, backend: 'wasm' | 'js'): { outputs: Float32Array[]; loss: number; grads: Float32Array[]; model: Model } {
  const model = new Model(c.graph(), { seed: 7, backend });
  const rows = c.rows ?? 5;
  const outputs = views(model.forward(c.inputs(rows, new Rng(1))));
  const loss = model.loss(c.loss, c.targets(rows, new Rng(2)), { lossWeights: c.lossWeights });
  model.backward();
  return { outputs, loss, grads: model.namedParameters().map((p) => p.grad.slice()), model };
}

/** The three checks of one graph. */
export function checkGraph(c: GraphCase): void {
  it(`${c.name}: the wasm backend agrees with the js twins (outputs, loss, every gradient)`, () => {
    const wasm = pass(c, 'wasm');
    const js = pass(c, 'js');
    const tolerance = c.tolerance ?? 1e-4;
    wasm.outputs.forEach((output, o) => expectNear(output, js.outputs[o], tolerance, `output ${o}`));
    expectNear([wasm.loss], [js.loss], tolerance, 'loss');
    const names = js.model.namedParameters().map((p) => p.name);
    wasm.grads.forEach((grad, p) => expectNear(grad, js.grads[p], tolerance, `gradient of ${names[p]}`));
    // The check compared real gradients.
    expect(js.grads.some((grad) => grad.some((g) => Math.abs(g) > 1e-6))).toBe(true);
    wasm.model.dispose();
    js.model.dispose();
  });

  it(`${c.name}: steps on the tape are bit-identical to the same steps call by call`, () => {
    const taped = new Model(c.graph(), { seed: 7, backend: 'wasm' });
    const plain = new Model(c.graph(), { seed: 7, backend: 'wasm' });
    (plain as unknown as { tapeFor: () => undefined }).tapeFor = () => undefined;
    const [first, second] = [new Adam(taped, { lr: 0.01 }), new Adam(plain, { lr: 0.01 })];
    const rows = c.rows ?? 5;
    for (let step = 0; step < 4; step++) {
      const x = c.inputs(rows, new Rng(10 + step));
      const y = c.targets(rows, new Rng(20 + step));
      const a = taped.trainStep(x, y, { loss: c.loss, lossWeights: c.lossWeights, optimizer: first });
      const b = plain.trainStep(x, y, { loss: c.loss, lossWeights: c.lossWeights, optimizer: second });
      expect(Number.isFinite(a)).toBe(true);
      expect(Object.is(a, b), `step ${step}: ${a} against ${b}`).toBe(true);
    }
    const q = plain.namedParameters();
    taped.namedParameters().forEach((p, i) => {
      expect(bits(p.value), p.name).toEqual(bits(q[i].value));
      expect(bits(p.grad), p.name).toEqual(bits(q[i].grad));
    });
    taped.dispose();
    plain.dispose();
  });

  it(`${c.name}: backward agrees with float64 central differences on both backends`, () => {
    for (const backend of ['js', 'wasm'] as const) {
      const model = new Model(c.graph(), { seed: 7, backend });
      const rows = c.rows ?? 5;
      const result = gradCheck(model, c.inputs(rows, new Rng(3)), c.targets(rows, new Rng(4)), { loss: c.loss, lossWeights: c.lossWeights });
      const worst = result.parameters.filter((p) => !p.passed).map((p) => `${p.name} ${p.maxRelativeError.toExponential(1)} (${p.analytical} against ${p.numerical})`);
      expect(worst, backend).toEqual([]);
      expect(result.passed).toBe(true);
      expect(Math.max(...result.parameters.map((p) => p.largestGradient))).toBeGreaterThan(1e-4);
      model.dispose();
    }
  });
}
