// Measuring what a run allocates on the JavaScript heap: how much the young generation grew, and how
// many collections ran meanwhile (vitest.config.ts starts workers with --expose-gc).
import { PerformanceObserver } from 'node:perf_hooks';
import { expect } from 'vitest';
import { getHeapSpaceStatistics } from 'node:v8';

export const collect = (globalThis as { gc?: () => void }).gc;

/** Bytes a step may allocate: four boxed doubles. */
export const BOXED_LOSS = 64;

// JS objects are born in the young generation; code the JIT compiles meanwhile goes elsewhere.
function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')!.space_used_size;
}

export async function allocationDuring(run: () => void): Promise<{ collections: number; heapGrowth: number }> {
  let collections = 0;
  const observer = new PerformanceObserver((list) => (collections += list.getEntries().length));
  collect!();
  const before = youngGenerationBytes();
  observer.observe({ entryTypes: ['gc'] });
  run();
  const heapGrowth = youngGenerationBytes() - before;
  // gc entries are delivered asynchronously.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return { collections, heapGrowth };
}

/**
 * Runs `warmUp` steps (so V8 optimizes them), then `steps` more up to three times: in the best of them,
 * no collection and under `budget` bytes a step. A steady-state allocation shows in every window; V8's
 * own one-off work (a late recompilation, measured at up to 0.8 MB in one window of 5,000 GPT steps)
 * in one at most.
 */
export async function expectStepsWithin(step: () => void, warmUp: number, steps: number, budget: number): Promise<void> {
  expect(collect, 'vitest.config.ts starts workers with --expose-gc').toBeTypeOf('function');
  for (let i = 0; i < warmUp; i++) step();
  let best = { collections: Infinity, perStep: Infinity };
  for (let window = 0; window < 3 && !(best.collections === 0 && best.perStep < budget); window++) {
    const { collections, heapGrowth } = await allocationDuring(() => {
      for (let i = 0; i < steps; i++) step();
    });
    if (collections < best.collections || (collections === best.collections && heapGrowth / steps < best.perStep)) best = { collections, perStep: heapGrowth / steps };
  }
  expect(best.collections).toBe(0);
  expect(best.perStep).toBeLessThan(budget);
}

/** PyTorch's step, call by call. */
export function callByCall<X, Y, L>(
  model: { forward(x: X): unknown; loss(loss: L, y: Y): number; backward(): void },
  optimizer: { zeroGrad(): void; step(): void }, x: X, loss: L, y: Y,
): () => void {
  return () => {
    optimizer.zeroGrad();
    model.forward(x);
    model.loss(loss, y);
    model.backward();
    optimizer.step();
  };
}
