// fit() as a practitioner uses it: validation, metrics, callbacks, schedules, clipping, stopping,
// progress output, and evaluate().
import { beforeAll, describe, expect, it } from 'vitest';
import {
  dense, earlyStopping, init, linearlySeparable, modelCheckpoint, noisyPrototypes, reduceLROnPlateau, Sequential, SGD,
  StepLR, terminateOnNaN, type Callback,
} from '../../src/index.js';
import { progress } from '../../src/train/progress.js';
import { BACKENDS, normalMatrix, sameBits } from '../model/setup.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

describe.each(BACKENDS)('fit on the %s backend', (backend) => {
  const classifier = (seed = 1): Sequential => new Sequential([dense(2, 8, 'relu'), dense(8, 1, 'sigmoid')], { seed, backend });

  it('reports training and validation loss and accuracy per epoch (validationSplit)', async () => {
    const { x, y } = linearlySeparable(200, 3);
    const model = classifier();
    const history = await model.fit(x, y, {
      epochs: 30, batchSize: 20, loss: 'bce', optimizer: new SGD(model, { lr: 0.2 }), validationSplit: 0.25, metrics: ['accuracy', 'mse'],
    });
    expect(history.epochs).toBe(30);
    expect(history.valLoss).toHaveLength(30);
    expect(Object.keys(history.metrics).sort()).toEqual(['accuracy', 'mse', 'valAccuracy', 'valMse']);
    expect(history.metrics.accuracy[29]).toBeGreaterThan(0.9);
    expect(history.metrics.valAccuracy[29]).toBeGreaterThan(0.9);
    // The validation numbers are those evaluate() gives on the held-out last quarter.
    const held = model.evaluate(x.subarray(150 * 2), y.subarray(150), { loss: 'bce', metrics: ['accuracy'] });
    expect(held.loss).toBeCloseTo(history.valLoss![29], 6);
    expect(held.accuracy).toBe(history.metrics.valAccuracy[29]);
    model.dispose();
  });

  it('takes validationData and categorical metrics with class labels', async () => {
    const train = noisyPrototypes(120, 10, 3, 0.3, 1);
    const test = noisyPrototypes(60, 10, 3, 0.3, 1);
    const model = new Sequential([dense(10, 16, 'relu'), dense(16, 3)], { seed: 2, backend });
    const history = await model.fit(train.x, train.labels, {
      epochs: 15, batchSize: 16, loss: 'softmaxCrossEntropy', optimizer: new SGD(model, { lr: 0.1, momentum: 0.9 }),
      validationData: [test.x, test.labels], metrics: ['accuracy'],
    });
    expect(history.metrics.valAccuracy[14]).toBeGreaterThan(0.9);
    expect(model.evaluate(test.x, test.labels, { loss: 'softmaxCrossEntropy', metrics: ['accuracy'] }).accuracy).toBe(history.metrics.valAccuracy[14]);
    model.dispose();
  });

  it('early stopping restores the best weights bit-exactly', async () => {
    const { x, y } = linearlySeparable(100, 4);
    const model = classifier(3);
    const snapshots: Float32Array[][] = [];
    const record: Callback = { onEpochEnd: (_epoch, _logs, { model: m }) => void snapshots.push(m.namedParameters().map((p) => p.value.slice())) };
    // A learning rate this large makes the loss bounce, so the best epoch is not the last.
    const history = await model.fit(x, y, {
      epochs: 40, batchSize: 100, loss: 'bce', optimizer: new SGD(model, { lr: 8 }), shuffle: false,
      callbacks: [record, earlyStopping({ monitor: 'loss', patience: 3, restoreBestWeights: true })],
    });
    const best = history.loss.indexOf(Math.min(...history.loss));
    if (history.stopReason === 'earlyStopping') expect(history.epochs).toBe(best + 1 + 4);
    model.namedParameters().forEach((p, i) => expect(sameBits(p.value, snapshots[best][i])).toBe(true));
    model.dispose();
  });

  it('stops on NaN, on a callback, and on an AbortSignal', async () => {
    const x = normalMatrix(64, 2, 1);
    const y = normalMatrix(64, 1, 2);
    const model = new Sequential([dense(2, 4, 'relu'), dense(4, 1)], { seed: 4, backend });
    const exploding = await model.fit(x, y, {
      epochs: 50, batchSize: 8, loss: 'mse', optimizer: new SGD(model, { lr: 1e4 }), callbacks: [terminateOnNaN()], nanGuard: false,
    });
    expect(exploding.stopReason).toBe('nan');
    const other = new Sequential([dense(2, 4, 'relu'), dense(4, 1)], { seed: 4, backend });
    const stopper: Callback = { onEpochEnd: (epoch, _logs, context) => void (epoch === 2 && context.stop('enough')) };
    const stopped = await other.fit(x, y, { epochs: 10, loss: 'mse', optimizer: new SGD(other, { lr: 0.01 }), callbacks: [stopper] });
    expect([stopped.epochs, stopped.stopReason]).toEqual([3, 'enough']);
    const controller = new AbortController();
    controller.abort();
    const aborted = await other.fit(x, y, { epochs: 10, loss: 'mse', optimizer: new SGD(other, { lr: 0.01 }), signal: controller.signal });
    expect([aborted.epochs, aborted.stopReason]).toEqual([0, 'aborted']);
    model.dispose();
    other.dispose();
  });

  it('the NaN guard stops before a non-finite update: the weights and momentum stay those of the last good step', async () => {
    const x = normalMatrix(64, 2, 1);
    const y = normalMatrix(64, 1, 2);
    const model = new Sequential([dense(2, 4, 'relu'), dense(4, 1)], { seed: 4, backend });
    const optimizer = new SGD(model, { lr: 1e4, momentum: 0.9 });
    // Parameters and momentum after each good step (the gradients of a refused batch may differ).
    const state = (m: Sequential): Float32Array[] => [m.paramsPointer, m.statePointer(0)].map((at) => m.backend.heap.f32.slice(at >> 2, (at >> 2) + m.sectionFloats));
    const snapshots: Float32Array[][] = [];
    const keep: Callback = { onBatchEnd: (_b, _l, { model: m }) => void snapshots.push(state(m as Sequential)) };
    const history = await model.fit(x, y, { epochs: 50, batchSize: 8, loss: 'mse', optimizer, callbacks: [keep] });
    expect(history.stopReason).toBe('nonFinite');
    expect(history.nonFinite).toMatch(/^epoch \d+, batch \d+: /);
    const now = state(model);
    expect(sameBits(now[0], snapshots[snapshots.length - 1][0])).toBe(true);
    expect(sameBits(now[1], snapshots[snapshots.length - 1][1])).toBe(true);
    expect(model.namedParameters().every((p) => p.value.every(Number.isFinite))).toBe(true);
    model.dispose();
  });

  it('steps a scheduler per epoch and records the lr; reduceLROnPlateau and clipNorm work inside fit', async () => {
    const { x, y } = linearlySeparable(40, 5);
    const model = classifier(5);
    const optimizer = new SGD(model, { lr: 0.4 });
    const history = await model.fit(x, y, { epochs: 5, batchSize: 40, loss: 'bce', optimizer, scheduler: new StepLR(optimizer, { stepSize: 2, gamma: 0.5 }) });
    expect(history.lr).toEqual([0.4, 0.4, 0.2, 0.2, 0.1]);
    const plateau = await model.fit(x, y, {
      epochs: 4, batchSize: 40, loss: 'bce', optimizer, callbacks: [reduceLROnPlateau({ monitor: 'loss', patience: 0, threshold: 10, factor: 0.5 })],
    });
    // StepLR left lr at 0.1; a threshold of 10 makes no epoch count as better, so every epoch halves it.
    expect(plateau.lr).toEqual([0.1, 0.05, 0.025, 0.0125]);
    // clipNorm 1e-9: every step is tiny, so the weights barely move.
    const before = model.namedParameters().map((p) => p.value.slice());
    await model.fit(x, y, { epochs: 2, batchSize: 10, loss: 'bce', optimizer: new SGD(model, { lr: 1 }), clipNorm: 1e-9 });
    model.namedParameters().forEach((p, i) => p.value.forEach((v, j) => expect(Math.abs(v - before[i][j])).toBeLessThan(1e-8)));
    model.dispose();
  });

  it('checkpoints to a function, every epoch or only on improvement', async () => {
    const { x, y } = linearlySeparable(50, 6);
    const model = classifier(6);
    const saved: number[] = [];
    await model.fit(x, y, {
      epochs: 6, batchSize: 50, loss: 'bce', optimizer: new SGD(model, { lr: 0.5 }),
      callbacks: [modelCheckpoint({ save: (bytes, epoch) => void (Sequential.load(bytes, { backend }).dispose(), saved.push(epoch)) })],
    });
    expect(saved).toEqual([0, 1, 2, 3, 4, 5]);
    // In Node, to files: only the epochs that improved the loss, each loadable.
    const { mkdtemp, readdir, readFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const folder = await mkdtemp(join(tmpdir(), 'simdprop-checkpoints-'));
    try {
      const history = await model.fit(x, y, {
        epochs: 4, batchSize: 50, loss: 'bce', optimizer: new SGD(model, { lr: 0.5 }),
        callbacks: [modelCheckpoint({ path: join(folder, 'model-{epoch}.safetensors'), monitor: 'loss', saveBestOnly: true })],
      });
      const files = (await readdir(folder)).sort();
      const improving = history.loss.flatMap((loss, i) => (history.loss.slice(0, i).every((earlier) => loss < earlier) ? [`model-${i + 1}.safetensors`] : []));
      expect(files).toEqual(improving.sort());
      Sequential.load(await readFile(join(folder, files[0])), { backend }).dispose();
    } finally {
      await rm(folder, { recursive: true });
    }
    model.dispose();
  });

  it('rejects bad options before changing anything', async () => {
    const model = classifier(7);
    const optimizer = new SGD(model, { lr: 0.1 });
    const before = model.namedParameters().map((p) => p.value.slice());
    const { x, y } = linearlySeparable(10, 1);
    await expect(model.fit(x, y, { loss: 'bce', optimizer, validationSplit: 1.5 })).rejects.toThrow(/validationSplit must be a finite number in \[0, 1\)/);
    await expect(model.fit(x, y, { loss: 'bce', optimizer, metrics: ['f1' as 'mse'] })).rejects.toThrow(/unknown metric "f1"/);
    await expect(model.fit(x, y, { loss: 'bce', optimizer, validationData: [x, [1, 2]] })).rejects.toThrow(/validationData y must hold 10 targets, got 2/);
    await expect(model.fit(x, y, { loss: 'bce', optimizer, verbose: 3 as 1 })).rejects.toThrow(/verbose must be 0, 1 or 2/);
    model.namedParameters().forEach((p, i) => expect(sameBits(p.value, before[i])).toBe(true));
    expect(() => model.evaluate(x, y, { loss: 'mse', metrics: ['accuracy'] })).toThrow(/'accuracy' needs a classification loss/);
    model.dispose();
  });
});

describe('progress output', () => {
  function run(tty: boolean, verbose: 1 | 2): string {
    let text = '';
    const callback = progress(verbose, 100, 1, { tty, write: (chunk) => void (text += chunk) });
    const context = { epochs: 2 } as never;
    callback.onTrainBegin!(context);
    for (let epoch = 0; epoch < 2; epoch++) {
      callback.onEpochBegin!(epoch, context);
      for (let batch = 0; batch < 4; batch++) callback.onBatchEnd!(batch, { loss: 0.5, rows: 25 }, context);
      callback.onEpochEnd!(epoch, { loss: 0.5, accuracy: 0.75 }, context);
    }
    return text;
  }

  it('prints a plain line per epoch when not on a terminal', () => {
    const lines = run(false, 1).split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^Epoch 1\/2 {2}[\d.]+m?s {2}\d+ samples\/s {2}loss 0\.5000 {2}accuracy 0\.7500$/);
  });

  it('draws a bar in place on a terminal', () => {
    const text = run(true, 1);
    expect(text).toMatch(/\rEpoch 1\/2 \[=*>?\.*\] \d+\/100 {2}ETA/);
    expect(text.split('\n').filter(Boolean)).toHaveLength(2);
  });
});
