// A pool of workers that run kernels over the same shared WebAssembly memory as the main thread.
// A round: the main thread writes each worker's task and arguments into the control block, bumps the
// generation and wakes the workers (Atomics, no postMessage), does its own share, then waits until
// the workers have counted themselves done.
import {
  ARGS_BYTE_OFFSET, ARGS_PER_WORKER, FAILED, GENERATION, MAX_WORKERS, NOTHING, PENDING, QUIT, TASK, TASK_ROUND,
  WORKER_SOURCE, controlBytes,
} from './protocol.js';

interface WorkerHandle {
  terminate(): void;
}

// Starts one worker running WORKER_SOURCE and sends it its start message; resolves once it is ready.
async function spawn(start: Record<string, unknown>): Promise<WorkerHandle> {
  if (typeof process === 'object' && process.versions?.node) {
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.postMessage(start);
    });
    // Sleeping workers must not keep the process alive.
    worker.unref();
    return { terminate: () => void worker.terminate() };
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const worker = new Worker(url);
  await new Promise<void>((resolve, reject) => {
    worker.onmessage = () => resolve();
    worker.onerror = (event) => reject(new Error(`simdprop: a worker failed to start: ${event.message}`));
    worker.postMessage(start);
  });
  URL.revokeObjectURL(url);
  return { terminate: () => worker.terminate() };
}

// Whether this thread may block in Atomics.wait (browsers' main threads may not: they spin instead).
function mayBlock(signals: Int32Array): boolean {
  try {
    Atomics.wait(signals, FAILED, 1, 0);
    return true;
  } catch {
    return false;
  }
}

export class ThreadPool {
  private readonly signals: Int32Array;
  private readonly args: Float64Array;
  private readonly blocking: boolean;
  private pending = 0;
  /** Set by close(): the pool takes no more rounds. */
  closed = false;

  private constructor(
    private readonly workers: WorkerHandle[],
    control: SharedArrayBuffer,
  ) {
    this.signals = new Int32Array(control);
    this.args = new Float64Array(control, ARGS_BYTE_OFFSET);
    this.blocking = mayBlock(this.signals);
  }

  /**
   * Starts `workers` workers, each instantiating `module` over `memory`. `kernelNames[i]` is kernel
   * number i + 1 in assign().
   */
  static async start(
    workers: number, module: WebAssembly.Module, memory: WebAssembly.Memory, kernelNames: readonly string[],
  ): Promise<ThreadPool> {
    if (workers < 1 || workers > MAX_WORKERS) throw new RangeError(`simdprop: a pool takes 1 to ${MAX_WORKERS} workers, not ${workers}`);
    const control = new SharedArrayBuffer(controlBytes(workers));
    const handles = await Promise.all(Array.from({ length: workers }, (_, worker) =>
      spawn({ module, memory, control, worker, kernelNames: kernelNames.slice() })));
    return new ThreadPool(handles, control);
  }

  /** Workers in the pool (the main thread works too: threads = size + 1). */
  get size(): number {
    return this.workers.length;
  }

  /**
   * Gives worker `worker` kernel number `kernel` (1-based) with its arguments for the next round (up to
   * ARGS_PER_WORKER; positional parameters, so a call makes no array).
   */
  assign(
    worker: number, kernel: number, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0, a10 = 0, a11 = 0,
    a12 = 0, a13 = 0, a14 = 0, a15 = 0, a16 = 0, a17 = 0, a18 = 0, a19 = 0, a20 = 0,
  ): void {
    const row = worker * ARGS_PER_WORKER;
    const args = this.args;
    args[row] = a0; args[row + 1] = a1; args[row + 2] = a2; args[row + 3] = a3;
    args[row + 4] = a4; args[row + 5] = a5; args[row + 6] = a6; args[row + 7] = a7;
    args[row + 8] = a8; args[row + 9] = a9; args[row + 10] = a10; args[row + 11] = a11;
    args[row + 12] = a12; args[row + 13] = a13; args[row + 14] = a14; args[row + 15] = a15;
    args[row + 16] = a16; args[row + 17] = a17; args[row + 18] = a18; args[row + 19] = a19; args[row + 20] = a20;
    Atomics.store(this.signals, TASK + worker, kernel);
    // The round begin() starts next: the worker runs the task then and only then.
    Atomics.store(this.signals, TASK_ROUND + worker, Atomics.load(this.signals, GENERATION) + 1);
    this.pending++;
  }

  /** Wakes the workers given a task since the last round; the caller then does its own share and calls finish(). */
  begin(): void {
    Atomics.store(this.signals, PENDING, this.pending);
    Atomics.add(this.signals, GENERATION, 1);
    Atomics.notify(this.signals, GENERATION);
  }

  /** Waits for the round's workers, clears their tasks, and throws if a kernel failed in one of them. */
  finish(): void {
    const signals = this.signals;
    // The workers' shares end about when the main thread's does: spin first, then sleep if allowed.
    for (let spin = 0; ; spin++) {
      const left = Atomics.load(signals, PENDING);
      if (left === 0) break;
      // Below 0 a task ran twice: fail loudly rather than wait forever for a count that cannot come.
      if (left < 0) throw new Error('simdprop: the thread pool lost count of its busy workers (a task ran twice)');
      if (this.blocking && spin > 2000) Atomics.wait(signals, PENDING, left, 1);
    }
    for (let worker = 0; worker < this.workers.length; worker++) Atomics.store(signals, TASK + worker, NOTHING);
    this.pending = 0;
    if (Atomics.exchange(signals, FAILED, 0) !== 0) throw new Error('simdprop: a kernel failed in a worker thread');
  }

  /** Stops the workers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let worker = 0; worker < this.workers.length; worker++) Atomics.store(this.signals, TASK + worker, QUIT);
    Atomics.add(this.signals, GENERATION, 1);
    Atomics.notify(this.signals, GENERATION);
    for (const worker of this.workers) worker.terminate();
  }
}
