// The pool's hand-off: every task runs exactly once, in the round it was given for. Rounds without
// work for a worker wake it anyway; it must not take the next round's task while that is being
// written (it would run it early and again in its round: an update applied twice, or a count of busy
// workers that never reaches 0 and hangs the caller).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { KERNEL_NAMES } from '../../src/backend/wasm/index.js';
import { ThreadPool } from '../../src/threads/pool.js';

const module = new WebAssembly.Module(readFileSync(new URL('../../build/simdprop-mt.wasm', import.meta.url)));
const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
const pools: ThreadPool[] = [];
afterAll(() => pools.forEach((pool) => pool.close()));

const AXPY = KERNEL_NAMES.indexOf('axpy') + 1;
const X = 1024;
const Y = 2048;

describe('the thread pool', () => {
  it.each([1, 2])('runs each task once, with %i worker(s), over 20000 rounds that alternate work and none', async (workers) => {
    const pool = await ThreadPool.start(workers, module, memory, KERNEL_NAMES);
    pools.push(pool);
    const f32 = new Float32Array(memory.buffer);
    f32.fill(1, X >> 2, (X >> 2) + 4);
    f32.fill(0, Y >> 2, (Y >> 2) + 4 * workers);
    const given = new Array<number>(workers).fill(0);
    for (let round = 0; round < 20000; round++) {
      // Worker w gets a task in rounds where bit w of the round number is set: every pattern of
      // busy and idle workers, back to back.
      for (let worker = 0; worker < workers; worker++) {
        if (((round >> worker) & 1) === 1) {
          pool.assign(worker, AXPY, Y + 16 * worker, X, 4, 1);
          given[worker]++;
        }
      }
      pool.begin();
      pool.finish();
    }
    for (let worker = 0; worker < workers; worker++) {
      // y += 1 per run, exact in float32 up to 2^24.
      expect(Array.from(f32.subarray((Y >> 2) + 4 * worker, (Y >> 2) + 4 * worker + 4))).toEqual(new Array(4).fill(given[worker]));
    }
  });

  // On a loaded host Atomics.wait can return with the generation unchanged. A worker that took that
  // for a new round ran the round's task again before the main thread had cleared it: seen on this
  // machine with busy threads beside the pool, within a few thousand rounds, before the fix.
  it('runs each task once while other threads keep every core busy', async () => {
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const busy = Array.from({ length: availableParallelism() + 1 }, () => new Worker(
      'const { workerData } = require("node:worker_threads"); const stop = new Int32Array(workerData); while (Atomics.load(stop, 0) === 0);',
      { eval: true, workerData: stop.buffer },
    ));
    try {
      const pool = await ThreadPool.start(1, module, memory, KERNEL_NAMES);
      pools.push(pool);
      const f32 = new Float32Array(memory.buffer);
      f32.fill(1, X >> 2, (X >> 2) + 4);
      f32.fill(0, Y >> 2, (Y >> 2) + 4);
      const rounds = 20_000;
      for (let round = 0; round < rounds; round++) {
        pool.assign(0, AXPY, Y, X, 4, 1);
        pool.begin();
        // The main thread's own share, longer than the worker spins before it sleeps.
        for (const until = performance.now() + 0.1; performance.now() < until;);
        pool.finish();
      }
      expect(Array.from(f32.subarray(Y >> 2, (Y >> 2) + 4))).toEqual(new Array(4).fill(rounds));
    } finally {
      Atomics.store(stop, 0, 1);
      await Promise.all(busy.map((worker) => worker.terminate()));
    }
  }, 60_000);
});
