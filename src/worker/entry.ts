// The worker side of trainInWorker(): builds the model, trains it with fit(), posts progress (batch
// events at most every 100 ms, every epoch), stops when told to, and posts the trained model's bytes.
import { init } from '../init.js';
import { Dense } from '../layers/dense.js';
import { Dropout } from '../layers/dropout.js';
import { Adam, AdamW } from '../optim/adam.js';
import type { Optimizer } from '../optim/optimizer.js';
import { RMSprop } from '../optim/rmsprop.js';
import { SGD } from '../optim/sgd.js';
import { loadModel } from '../io/load.js';
import type { Model } from '../graph/model.js';
import { Sequential } from '../sequential.js';
import type { Callback } from '../train/callbacks.js';
import type { OptimizerSpec, StartMessage, WorkerMessage } from './protocol.js';

interface Port {
  post(message: WorkerMessage, transfer?: ArrayBuffer[]): void;
  listen(handler: (message: StartMessage | { type: 'abort' }) => void): void;
}

async function port(): Promise<Port> {
  if (typeof process === 'object' && process.versions?.node) {
    const { parentPort } = await import('node:worker_threads');
    if (!parentPort) throw new Error('simdprop: the worker entry must run in a worker');
    return { post: (message, transfer) => parentPort.postMessage(message, transfer ?? []), listen: (handler) => parentPort.on('message', handler) };
  }
  const scope = globalThis as unknown as { postMessage(message: unknown, transfer: ArrayBuffer[]): void; onmessage: ((event: MessageEvent) => void) | null };
  return { post: (message, transfer) => scope.postMessage(message, transfer ?? []), listen: (handler) => (scope.onmessage = (event) => handler(event.data)) };
}

function optimizerFor(model: Model, spec: OptimizerSpec): Optimizer {
  switch (spec.kind) {
    case 'sgd': return new SGD(model, spec);
    case 'adam': return new Adam(model, spec);
    case 'adamw': return new AdamW(model, spec);
    case 'rmsprop': return new RMSprop(model, spec);
    default: throw new Error(`simdprop: unknown optimizer kind ${JSON.stringify((spec as { kind: unknown }).kind)}`);
  }
}

const messages = await port();
const abort = new AbortController();

async function train(start: StartMessage): Promise<void> {
  const report = await init(start.init ?? {});
  messages.post({ type: 'ready', description: report.description, threads: report.threads });
  const model = start.modelBytes
    ? loadModel(start.modelBytes)
    : new Sequential((start.layers ?? []).flatMap((layer) => [
      new Dense(layer.inputSize, layer.outputSize, layer.activation ?? 'linear', { bias: layer.bias, negativeSlope: layer.negativeSlope }),
      ...(layer.dropout ? [new Dropout(layer.dropout)] : []),
    ]), { seed: start.seed });
  const optimizer = optimizerFor(model, start.fit.optimizer);
  let epochStart = 0;
  let epochRows = 0;
  let lastPost = 0;
  const progress: Callback = {
    onEpochBegin() {
      epochStart = performance.now();
      epochRows = 0;
    },
    onBatchEnd(batch, logs) {
      epochRows += logs.rows;
      const now = performance.now();
      if (now - lastPost < 100) return;
      lastPost = now;
      const samplesPerSecond = (epochRows / Math.max(now - epochStart, 1e-3)) * 1000;
      messages.post({ type: 'batch', epoch: -1, batch, loss: logs.loss, rows: logs.rows, samplesPerSecond });
    },
    onEpochEnd(epoch, logs) {
      const samplesPerSecond = (epochRows / Math.max(performance.now() - epochStart, 1e-3)) * 1000;
      messages.post({ type: 'epoch', epoch, logs: { ...logs }, samplesPerSecond });
    },
  };
  const { optimizer: _spec, ...fitOptions } = start.fit;
  const history = await model.fit(start.x, start.y, { ...fitOptions, optimizer, callbacks: [progress], signal: abort.signal });
  const bytes = model.save();
  model.dispose();
  messages.post({ type: 'done', bytes, history }, [bytes.buffer as ArrayBuffer]);
}

messages.listen((message) => {
  if (message.type === 'abort') abort.abort();
  if (message.type === 'start') {
    train(message).catch((error: Error & { code?: string }) => {
      messages.post({ type: 'error', message: error.message, code: error.code });
    });
  }
});
