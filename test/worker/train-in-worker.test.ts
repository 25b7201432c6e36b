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
    const predictions = model.predict(xHere) as Float32Array;
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

  it('trains a graph model with int32 and float inputs and two outputs by name, and hands back a graph', async () => {
    const tokens = simdprop.input([3], { dtype: 'int32', name: 'tokens' });
    const feats = simdprop.input([2], { name: 'feats' });
    const h = simdprop.flatten().apply(simdprop.embedding(4, 2, { name: 'embed' }).apply(tokens));
    const joined = simdprop.dense(8, 8, 'relu', { name: 'hidden' }).apply(simdprop.concat([h, feats]));
    const model = new simdprop.Model({
      inputs: { tokens, feats },
      outputs: { label: simdprop.dense(8, 2, 'linear', { name: 'label' }).apply(joined), score: simdprop.dense(8, 1, 'sigmoid', { name: 'score' }).apply(joined) },
    }, { seed: 2 });
    // The label is whether token 0 appears in the row; the score is the first feature squashed.
    const rng = new simdprop.Rng(4);
    const rows = 256;
    const tokenData = Int32Array.from({ length: rows * 3 }, () => rng.below(4));
    const featData = Float32Array.from({ length: rows * 2 }, () => rng.normal());
    const label = Int32Array.from({ length: rows }, (_, r) => (tokenData.subarray(r * 3, r * 3 + 3).includes(0) ? 1 : 0));
    const score = Float32Array.from({ length: rows }, (_, r) => 1 / (1 + Math.exp(-2 * featData[r * 2])));
    const before = model.evaluate({ tokens: tokenData, feats: featData }, { label, score }, { loss: { label: 'softmaxCrossEntropy', score: 'bce' } });
    const job = simdprop.trainInWorker({
      model, x: { tokens: tokenData.slice(), feats: featData.slice() }, y: { label: label.slice(), score: score.slice() },
      fit: { loss: { label: 'softmaxCrossEntropy', score: 'bce' }, lossWeights: { score: 0.5 }, optimizer: { kind: 'adam', lr: 0.02 }, epochs: 40, batchSize: 32, metrics: ['accuracy'] },
    });
    let logs: Record<string, number> = {};
    for await (const event of job.events) if (event.type === 'epoch') logs = event.logs;
    const { model: trained, history } = await job.result;
    expect(history.epochs).toBe(40);
    // fit logs each output's loss and metrics by name.
    expect(Object.keys(logs)).toEqual(expect.arrayContaining(['loss', 'labelLoss', 'scoreLoss', 'labelAccuracy']));
    expect(logs.labelAccuracy).toBeGreaterThan(0.9);
    expect(trained).toBeInstanceOf(simdprop.Model);
    expect(trained.namedParameters().map((p) => p.name)).toEqual(model.namedParameters().map((p) => p.name));
    const after = trained.evaluate({ tokens: tokenData, feats: featData }, { label, score }, { loss: { label: 'softmaxCrossEntropy', score: 'bce' } });
    expect(after.loss).toBeLessThan(before.loss / 2);
    const out = trained.predict({ tokens: tokenData, feats: featData }) as Record<string, Float32Array>;
    expect(out.label).toHaveLength(rows * 2);
    expect(out.score).toHaveLength(rows);
    model.dispose();
    trained.dispose();
  });
});
