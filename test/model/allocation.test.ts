// A steady-state training step allocates no typed arrays, views, closures or arena growth. Checked by
// running many steps, once the code is optimized, and watching the young generation of the heap. The only allocations V8
// makes per step are boxed doubles (16 bytes each): the loss as a wasm export returns it and as
// trainStep returns it, and a per-segment learning rate passed on to the thread pool's kernel wrapper.
// More than 64 bytes a step means something else came into the hot path (a view costs about 80 more,
// a closure 32 or more). No scavenge may run meanwhile either.
import { beforeAll, describe, expect, it } from 'vitest';
import { allocationDuring, BOXED_LOSS, callByCall, expectStepsWithin } from '../allocation.js';
import { dense, init, Sequential, SGD, type BackendName } from '../../src/index.js';
import { normalMatrix, randomLabels } from './setup.js';

beforeAll(async () => {
  await init({ threads: 2 });
});

describe.each(['wasm', 'js'] as BackendName[])('a training step on the %s backend', (backend) => {
  const steps = backend === 'wasm' ? 20_000 : 5_000;
  // The JS twins need more calls than the wasm glue before V8 optimizes them (unoptimized code boxes
  // doubles). The graph executor's step runs more functions than the old stack's, and under the other
  // test worker's load V8 compiles them later: 3,000 wasm steps left some unoptimized into the window.
  const warmUp = backend === 'wasm' ? 10_000 : 20_000;

  it('allocates no more than its loss in trainStep', async () => {
    const model = new Sequential([dense(16, 32, 'relu'), dense(32, 32, 'gelu'), dense(32, 4)], { seed: 1, backend });
    const optimizer = new SGD(model, { lr: 0.01, momentum: 0.9, nesterov: true });
    const x = normalMatrix(8, 16, 2);
    const labels = randomLabels(8, 4, 3);
    const options = { loss: 'softmaxCrossEntropy' as const, optimizer };
    await expectStepsWithin(() => model.trainStep(x, labels, options), warmUp, steps, BOXED_LOSS);
    model.dispose();
  });

  it('allocates no more than the loss in zeroGrad, forward, loss, backward, step', async () => {
    const model = new Sequential([dense(6, 8, 'tanh'), dense(8, 3, 'sigmoid')], { seed: 4, backend });
    const optimizer = new SGD(model, { lr: 0.01 });
    const x = normalMatrix(5, 6, 5);
    const y = normalMatrix(5, 3, 6).map((v) => (v > 0 ? 1 : 0));
    await expectStepsWithin(callByCall(model, optimizer, x, 'bce' as const, y), warmUp, steps, BOXED_LOSS);
    model.dispose();
  });
});

it('a large model on two threads allocates no more per step, and its arena does not grow', async () => {
  const model = new Sequential([dense(256, 256, 'relu'), dense(256, 10)], { seed: 7 });
  expect(model.backend.threads).toBe(2);
  const optimizer = new SGD(model, { lr: 0.01, momentum: 0.9 });
  const x = normalMatrix(64, 256, 8);
  const labels = randomLabels(64, 10, 9);
  const options = { loss: 'softmaxCrossEntropy' as const, optimizer };
  for (let i = 0; i < 200; i++) model.trainStep(x, labels, options);
  const inUse = model.backend.heap.inUseBytes;
  const { collections, heapGrowth } = await allocationDuring(() => {
    for (let i = 0; i < 1000; i++) model.trainStep(x, labels, options);
  });
  expect(collections).toBe(0);
  expect(heapGrowth / 1000).toBeLessThan(BOXED_LOSS);
  expect(model.backend.heap.inUseBytes).toBe(inUse);
  model.dispose();
});
