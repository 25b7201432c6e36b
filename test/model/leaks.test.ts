// 10,000 models made, trained a step and disposed: the heap's bytes in use come back to where they
// started and the WebAssembly memory stops growing after the first cycles (it never shrinks: freed
// blocks are reused). Two models training interleaved, on one backend and on two, leave each other be.
import { beforeAll, describe, expect, it } from 'vitest';
import { Adam, dense, init, Sequential, SGD } from '../../src/index.js';
import { BACKENDS, normalMatrix, randomLabels, sameBits } from './setup.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

describe.each(BACKENDS)('on the %s backend', (backend) => {
  it('10,000 create → train a step → dispose cycles give every byte back', () => {
    const x = normalMatrix(16, 12, 1);
    const labels = randomLabels(16, 3, 2);
    const cycle = (i: number): void => {
      const model = new Sequential([dense(12, 24, 'relu'), dense(24, 3)], { seed: i, backend });
      model.trainStep(x, labels, { loss: 'softmaxCrossEntropy', optimizer: new Adam(model, { lr: 0.01 }) });
      model.dispose();
    };
    cycle(0);
    const heap = new Sequential([dense(1, 1)], { backend }).backend.heap;
    const inUse = heap.inUseBytes;
    const memoryAfterFirst = heap.memory.buffer.byteLength;
    const cycles = backend === 'wasm' ? 10_000 : 2_000;
    for (let i = 1; i <= cycles; i++) cycle(i);
    expect(heap.inUseBytes).toBe(inUse);
    expect(heap.memory.buffer.byteLength).toBe(memoryAfterFirst);
  });
});

it('two models training interleaved, on one backend and across backends, do not disturb each other', () => {
  const x = normalMatrix(8, 6, 3);
  const labels = randomLabels(8, 2, 4);
  const alone = (backend: 'wasm' | 'js', seed: number): Float32Array[] => {
    const model = new Sequential([dense(6, 10, 'tanh'), dense(10, 2)], { seed, backend });
    const optimizer = new SGD(model, { lr: 0.1, momentum: 0.9 });
    for (let step = 0; step < 10; step++) model.trainStep(x, labels, { loss: 'softmaxCrossEntropy', optimizer });
    const weights = model.namedParameters().map((p) => p.value.slice());
    model.dispose();
    return weights;
  };
  for (const [first, second] of [['wasm', 'wasm'], ['wasm', 'js'], ['js', 'js']] as const) {
    const a = new Sequential([dense(6, 10, 'tanh'), dense(10, 2)], { seed: 1, backend: first });
    const b = new Sequential([dense(6, 10, 'tanh'), dense(10, 2)], { seed: 2, backend: second });
    const optA = new SGD(a, { lr: 0.1, momentum: 0.9 });
    const optB = new SGD(b, { lr: 0.1, momentum: 0.9 });
    for (let step = 0; step < 10; step++) {
      a.trainStep(x, labels, { loss: 'softmaxCrossEntropy', optimizer: optA });
      b.forward(normalMatrix(300, 6, step)); // grows b's block between a's steps
      b.trainStep(x, labels, { loss: 'softmaxCrossEntropy', optimizer: optB });
    }
    a.namedParameters().forEach((p, i) => expect(sameBits(p.value, alone(first, 1)[i])).toBe(true));
    b.namedParameters().forEach((p, i) => expect(sameBits(p.value, alone(second, 2)[i])).toBe(true));
    a.dispose();
    b.dispose();
  }
});
