// Buffers: state a layer keeps with the model but does not train (batch norm's running statistics
// are the first to come). A layer with one — out = x ⊙ scale, its scale a buffer — shows the plan
// lays them out once, the optimizer leaves them alone, a larger batch or a new optimizer keeps them,
// and files save and load them by name.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Kernels } from '../../src/backend/kernels.js';
import type { BufferSpec, NodeSpec, OpCall, TensorType } from '../../src/graph/op.js';
import { Adam, dense, init, input, Layer, Model, SGD } from '../../src/index.js';

class Scaled extends Layer<NodeSpec & { size: number }> {
  readonly kind = 'scaled';
  config(): Record<string, unknown> {
    return { name: this.name };
  }
  node(inputs: readonly TensorType[]): NodeSpec & { size: number } {
    return { output: inputs[0], size: inputs[0].shape[0] };
  }
  override buffers(inputs: readonly TensorType[]): readonly BufferSpec[] {
    return [{ name: 'scale', shape: [inputs[0].shape[0]], init: { kind: 'ones' } }];
  }
  forward(kernels: Kernels, call: OpCall<NodeSpec & { size: number }>): void {
    const n = call.node.size;
    for (let r = 0; r < call.rows; r++) kernels.mul(call.output + r * n * 4, call.inputs[0] + r * n * 4, call.buffers[0], n);
  }
  backward(kernels: Kernels, call: OpCall<NodeSpec & { size: number }>): void {
    const n = call.node.size;
    if (call.inputGrads[0] === 0) return;
    for (let r = 0; r < call.rows; r++) {
      const at = r * n * 4;
      if (call.accumulateInputs[0] !== 0) kernels.mul_add(call.inputGrads[0] + at, call.outputGrad + at, call.buffers[0], n);
      else kernels.mul(call.inputGrads[0] + at, call.outputGrad + at, call.buffers[0], n);
    }
  }
}

beforeAll(async () => {
  await init({ threads: 1 });
});

function model(backend: 'wasm' | 'js'): Model {
  const x = input([3]);
  return new Model({ inputs: x, outputs: dense(3, 2, 'linear', { name: 'head' }).apply(new Scaled({ name: 'norm' }).apply(dense(3, 3, 'linear', { name: 'proj' }).apply(x))) }, { seed: 2, backend });
}

const buffer = (m: Model): Float32Array => m.backend.heap.f32.slice(m.buffersPointer >> 2, (m.buffersPointer >> 2) + 3);

describe.each(['wasm', 'js'] as const)('buffers (%s)', (backend) => {
  it('start from their initializer, are not trained, and survive a larger batch and a new optimizer', () => {
    const m = model(backend);
    expect(Array.from(buffer(m))).toEqual([1, 1, 1]);
    m.backend.heap.f32.set([2, 0.5, -1], m.buffersPointer >> 2);
    const sgd = new SGD(m, { lr: 0.1, momentum: 0.9, weightDecay: 0.1 });
    const x = Float32Array.of(1, 2, 3, -1, 0, 1);
    for (let i = 0; i < 3; i++) m.trainStep(x, [[1, 0], [0, 1]], { loss: 'mse', optimizer: sgd });
    m.trainStep(new Float32Array(300 * 3).fill(0.5), new Float32Array(600), { loss: 'mse', optimizer: new Adam(m) });
    expect(Array.from(buffer(m))).toEqual([2, 0.5, -1]);
    // And the forward uses them: out = head(proj(x) ⊙ scale).
    m.eval();
    const before = (m.forward(x) as Float32Array).slice();
    m.backend.heap.f32.set([1, 1, 1], m.buffersPointer >> 2);
    expect(Array.from(m.forward(x) as Float32Array)).not.toEqual(Array.from(before));
    m.dispose();
  });

  it('are saved under their names, and Model.load and loadStateDict bring them back', () => {
    const m = model(backend);
    m.backend.heap.f32.set([3, 4, 5], m.buffersPointer >> 2);
    expect(m.stateDict().map((t) => t.name)).toEqual(['proj.weight', 'proj.bias', 'head.weight', 'head.bias', 'norm.scale']);
    const bytes = m.save();
    const loaded = Model.load(bytes, { backend, layers: { scaled: (c) => new Scaled(c as { name: string }) } });
    expect(Array.from(buffer(loaded))).toEqual([3, 4, 5]);
    const fresh = model(backend);
    fresh.loadStateDict(bytes);
    expect(Array.from(buffer(fresh))).toEqual([3, 4, 5]);
    [m, loaded, fresh].forEach((each) => each.dispose());
  });
});
