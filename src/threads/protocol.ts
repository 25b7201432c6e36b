// The control block the main thread and the workers share: one small SharedArrayBuffer, apart from
// the wasm memory so that growing the memory never moves it. Int32 slots for signalling, then a
// Float64 argument row per worker.
import { STOP_SLOT } from '../backend/generated/kernels.js';

/** Int32 index: bumped by the main thread to hand out a round of work; workers sleep on it. */
export const GENERATION = 0;
/** Int32 index: workers still busy in this round; the last one to finish notifies on it. */
export const PENDING = 1;
/** Int32 index: set when a kernel threw in a worker, so the main thread can report it. */
export const FAILED = 2;
/** Int32 index of worker w's task: a kernel number (1-based), 0 for nothing this round, −1 to quit. */
export const TASK = 4;
/**
 * Int32 index of the round (the GENERATION value) worker w's task belongs to. A worker runs a task only
 * in that round: a worker that woke for a round without work of its own can otherwise see the next
 * round's task being written before that round begins, run it early, and run it again when the round
 * begins (an update applied twice, or a count of busy workers that never reaches 0).
 */
export const TASK_ROUND = 64;
export const NOTHING = 0;
export const QUIT = -1;
/** Float64 arguments per worker: as many as a kernel takes (the tape record's argument slots). */
export const ARGS_PER_WORKER = STOP_SLOT - 1;
/** Byte offset of the argument rows (after 4 signal slots, up to 60 task slots and 60 round slots). */
export const ARGS_BYTE_OFFSET = 512;
export const MAX_WORKERS = 60;

export function controlBytes(workers: number): number {
  return ARGS_BYTE_OFFSET + workers * ARGS_PER_WORKER * 8;
}

/**
 * The worker's whole program, as source text so it runs the same from the sources, from dist/, under a
 * bundler and in a browser (as a blob URL): instantiate the module over the shared memory, then
 * sleep on the generation slot until it changes, run the kernel named in its task slot with its argument
 * row if the task is for the round that woke it, count itself done. It spins briefly before sleeping, since the next round usually comes within microseconds.
 */
export const WORKER_SOURCE = `
const GENERATION = ${GENERATION}, PENDING = ${PENDING}, FAILED = ${FAILED}, TASK = ${TASK}, TASK_ROUND = ${TASK_ROUND}, QUIT = ${QUIT};
const ARGS_PER_WORKER = ${ARGS_PER_WORKER}, ARGS_BYTE_OFFSET = ${ARGS_BYTE_OFFSET}, SPINS = 20000;
function serve(message, reply) {
  const { module, memory, control, worker, kernelNames } = message;
  const instance = new WebAssembly.Instance(module, {
    env: { memory, abort() { throw new Error('simdprop: wasm kernel aborted'); } },
  });
  const kernels = kernelNames.map((name) => instance.exports[name]);
  const signals = new Int32Array(control);
  const args = new Float64Array(control, ARGS_BYTE_OFFSET + worker * ARGS_PER_WORKER * 8, ARGS_PER_WORKER);
  let seen = Atomics.load(signals, GENERATION);
  reply('ready');
  for (;;) {
    for (let spin = 0; spin < SPINS && Atomics.load(signals, GENERATION) === seen; spin++);
    // Atomics.wait can return with the generation unchanged (seen on a loaded host): the round that
    // woke the worker would then look new again, and its task would run twice if the main thread
    // had not cleared it yet. Only a new generation is a new round.
    while (Atomics.load(signals, GENERATION) === seen) Atomics.wait(signals, GENERATION, seen);
    seen = Atomics.load(signals, GENERATION);
    const task = Atomics.load(signals, TASK + worker);
    if (task === QUIT) return;
    if (task > 0 && Atomics.load(signals, TASK_ROUND + worker) === seen) {
      try {
        kernels[task - 1](${Array.from({ length: ARGS_PER_WORKER }, (_, i) => `args[${i}]`).join(', ')});
      } catch (error) {
        Atomics.store(signals, FAILED, 1);
      }
      if (Atomics.sub(signals, PENDING, 1) === 1) Atomics.notify(signals, PENDING);
    }
  }
}
if (typeof self === 'object' && typeof self.postMessage === 'function' && typeof process === 'undefined') {
  self.onmessage = (event) => serve(event.data, (text) => self.postMessage(text));
} else {
  const { parentPort } = require('node:worker_threads');
  parentPort.once('message', (message) => serve(message, (text) => parentPort.postMessage(text)));
}
`;
