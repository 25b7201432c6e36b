// Training off the main thread, on the built package (the worker runs dist/worker/entry.js):
// progress arrives as events, an AbortSignal stops it, and the trained model comes back.
import { describe, expect, it } from 'vitest';

// The built package, as a user gets it: the worker entry is a .js file next to it.
const simdprop = await import(new URL('../../dist/index.js', import.meta.url).href) as typeof import('../../src/index.js');

describe('trainInWorker', () => {
  it('trains in a worker, streams progress, and returns the model to predict here', async () => {
    await simdprop.init({ threads: 1 });
    const { x, y } = simdprop.linearlySeparable(400, 7);
    const xHere = x.slice();
    const yHere = y.slice();
    const job = simdprop.trainInWorker({
      layers: [{ inputSize: 2, outputSize: 8, activation: 'relu' }, { inputSize: 8, outputSize: 1, activation: 'sigmoid' }],
      seed: 3, x, y, fit: { loss: 'bce', optimizer: { kind: 'adam', lr: 0.05 }, epochs: 30, batchSize: 32, metrics: ['accuracy'] },
      init: { threads: 2 },
    });
    const events: string[] = [];
    let lastEpoch: { logs: Record<string, number> } | undefined;
    for await (const event of job.events) {
      events.push(event.type);
      if (event.type === 'ready') expect(event.threads).toBe(2);
      if (event.type === 'epoch') {
        lastEpoch = event;
        expect(event.samplesPerSecond).toBeGreaterThan(0);
      }
    }
    expect(events[0]).toBe('ready');
    expect(events.filter((type) => type === 'epoch')).toHaveLength(30);
    const { model, history } = await job.result;
    // The data set went to the worker transferred, not copied.
    expect(x.length).toBe(0);
    expect(history.epochs).toBe(30);
    expect(lastEpoch!.logs.accuracy).toBeGreaterThan(0.95);
    const predictions = model.predict(xHere);
    let correct = 0;
    for (let i = 0; i < 400; i++) if ((predictions[i] > 0.5 ? 1 : 0) === yHere[i]) correct++;
    expect(correct / 400).toBeGreaterThan(0.95);
    model.dispose();
  });

  it('stops on an AbortSignal between batches and still hands back the model', async () => {
    const { x, y } = simdprop.linearlySeparable(2000, 8);
    const controller = new AbortController();
    const job = simdprop.trainInWorker({
      layers: [{ inputSize: 2, outputSize: 64, activation: 'tanh' }, { inputSize: 64, outputSize: 1, activation: 'sigmoid' }],
      x, y, fit: { loss: 'bce', optimizer: { kind: 'sgd', lr: 0.1 }, epochs: 100_000, batchSize: 8 }, signal: controller.signal,
    });
    for await (const event of job.events) if (event.type === 'epoch' && event.epoch >= 1) controller.abort();
    const { model, history } = await job.result;
    expect(history.stopReason).toBe('aborted');
    expect(history.epochs).toBeLessThan(100_000);
    expect(model.parameterCount).toBe(2 * 64 + 64 + 64 + 1);
    model.dispose();
  });

  it('continues training a model it is given, and reports a bad option as an error', async () => {
    const model = new simdprop.Sequential([simdprop.dense(2, 4, 'relu'), simdprop.dense(4, 1, 'sigmoid')], { seed: 1 });
    const { x, y } = simdprop.linearlySeparable(100, 9);
    const job = simdprop.trainInWorker({ model, x, y, fit: { loss: 'bce', optimizer: { kind: 'sgd', lr: 0.1 }, epochs: 3 } });
    const { model: trained, history } = await job.result;
    expect(history.loss).toHaveLength(3);
    expect(trained.namedParameters()[0].value).not.toEqual(model.namedParameters()[0].value);
    const bad = simdprop.trainInWorker({
      layers: [{ inputSize: 2, outputSize: 1 }], x: new Float32Array(4), y: new Float32Array(2),
      fit: { loss: 'mse', optimizer: { kind: 'sgd', lr: -1 } },
    });
    await expect(bad.result).rejects.toThrow(/lr must be a finite number ≥ 0, got number -1/);
    model.dispose();
    trained.dispose();
  });
});
