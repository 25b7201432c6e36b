// Training off the main thread: trainInWorker() starts a worker (worker_threads in Node and Deno/Bun,
// a module Web Worker in browsers) that trains with fit(), streams its progress as an async iterator,
// stops on an AbortSignal, and hands the trained model back as transferred bytes.
import type { BackendName } from '../backend/backend.js';
import { SimdpropError } from '../errors.js';
import type { History } from '../fit.js';
import type { Model } from '../graph/model.js';
import { loadModel } from '../io/load.js';
import type { LayerSpec, StartMessage, TrainEvent, WorkerData, WorkerFitOptions, WorkerMessage } from './protocol.js';

export interface TrainInWorkerOptions {
  /** The architecture to train from scratch … */
  layers?: LayerSpec[];
  /** … or a model to train further, a Sequential or a graph (its current weights travel to the worker as bytes). */
  model?: Model;
  /** Weight initialization seed (with `layers`). */
  seed?: number;
  /** The data set: typed arrays (one per input and output of a graph, in order or by name). */
  x: WorkerData;
  y: WorkerData;
  fit: WorkerFitOptions;
  /** The worker's init() options (backend, threads, relaxed, wasmUrl). */
  init?: StartMessage['init'];
  /** Stops training between batches; the model trained so far still comes back. */
  signal?: AbortSignal;
  /** The backend of the model handed back (default: the main thread's default). */
  backend?: BackendName;
  /** Browsers: the URL of simdprop's worker entry (dist/worker/entry.js) if it is not next to this module. */
  workerUrl?: string | URL;
}

export interface TrainingJob {
  /** Progress: 'ready' (backend, threads), 'batch' (at most every 100 ms) and 'epoch' events, until training ends. */
  events: AsyncIterable<TrainEvent>;
  /** The trained model, on this thread (of the kind it was: Sequential or Model), and fit()'s history. */
  result: Promise<{ model: Model; history: History }>;
}

interface Channel {
  post(message: unknown, transfer: ArrayBuffer[]): void;
  terminate(): void;
}

async function startWorker(url: URL, onMessage: (message: WorkerMessage) => void, onError: (error: Error) => void): Promise<Channel> {
  if (typeof process === 'object' && process.versions?.node) {
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(url);
    worker.on('message', onMessage);
    worker.on('error', onError);
    return { post: (message, transfer) => worker.postMessage(message, transfer), terminate: () => void worker.terminate() };
  }
  const worker = new Worker(url, { type: 'module' });
  worker.onmessage = (event) => onMessage(event.data as WorkerMessage);
  worker.onerror = (event) => onError(new Error(`simdprop: the training worker failed: ${event.message}`));
  return { post: (message, transfer) => worker.postMessage(message, transfer), terminate: () => worker.terminate() };
}

/** Trains in a worker; see TrainInWorkerOptions. The x and y arrays are transferred (left empty here). */
export function trainInWorker(options: TrainInWorkerOptions): TrainingJob {
  if (!options.layers === !options.model) throw new SimdpropError('OPTION', 'trainInWorker needs layers or a model, not both');
  const queue: TrainEvent[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  const push = (event?: TrainEvent): void => {
    if (event) queue.push(event);
    wake?.();
    wake = undefined;
  };
  let channel: Channel | undefined;
  const result = new Promise<{ model: Model; history: History }>((resolve, reject) => {
    const fail = (error: Error): void => {
      finished = true;
      push();
      channel?.terminate();
      reject(error);
    };
    const url = new URL(options.workerUrl ?? new URL('./entry.js', import.meta.url));
    startWorker(url, (message) => {
      if (message.type === 'done') {
        finished = true;
        push();
        channel?.terminate();
        resolve({ model: loadModel(message.bytes, { backend: options.backend }), history: message.history as History });
      } else if (message.type === 'error') {
        fail(new SimdpropError((message.code as never) ?? 'OPTION', message.message.replace(/^simdprop: /, '')));
      } else {
        push(message);
      }
    }, fail).then((started) => {
      channel = started;
      const modelBytes = options.model?.save();
      const start: StartMessage = {
        type: 'start', layers: options.layers, modelBytes, seed: options.seed, x: options.x, y: options.y, fit: options.fit, init: options.init,
      };
      const transfer = [...buffersOf(options.x), ...buffersOf(options.y), ...(modelBytes ? [modelBytes.buffer as ArrayBuffer] : [])];
      started.post(start, [...new Set(transfer)]);
      const stop = (): void => started.post({ type: 'abort' }, []);
      if (options.signal?.aborted) stop();
      else options.signal?.addEventListener('abort', stop, { once: true });
    }, fail);
  });
  const events: AsyncIterable<TrainEvent> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (finished) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  // A failure is reported through `result`; the iterator just ends.
  result.catch(() => {});
  return { events, result };
}

/** The buffers of a data set's typed arrays, to transfer. */
function buffersOf(data: WorkerData): ArrayBuffer[] {
  const arrays = ArrayBuffer.isView(data) ? [data] : Array.isArray(data) ? data : Object.values(data);
  return arrays.map((array) => array.buffer as ArrayBuffer);
}
