// The main job (`npm start`): (1) the classic demo — a 2-4-1 network learns x0 + x1 > 0 with BCE and
// SGD; (2) a 784-128-10 softmax network trained for about 3 seconds on each backend, side by side.
import { dense, init, linearlySeparable, noisyPrototypes, Sequential, SGD, type BackendName } from '../src/index.js';

async function classicDemo(): Promise<void> {
  const { x, y } = linearlySeparable(100, 42);
  const model = new Sequential([dense(2, 4, 'relu'), dense(4, 1, 'sigmoid')], { seed: 1 });
  const optimizer = new SGD(model, { lr: 0.1 });
  console.log('classic demo: 2-4-1 relu/sigmoid, BCE, SGD lr 0.1, 100 samples, 1000 full-batch epochs');
  await model.fit(x, y, { epochs: 1000, batchSize: 100, loss: 'bce', optimizer, shuffle: false, logEvery: 100 });
  const predictions = model.predict(x);
  let correct = 0;
  for (let r = 0; r < y.length; r++) if ((predictions[r] > 0.5 ? 1 : 0) === y[r]) correct++;
  console.log(`final training accuracy: ${((100 * correct) / y.length).toFixed(1)}%`);
  model.dispose();
}

const BATCH = 64;

function throughput(backend: BackendName, x: Float32Array, labels: Int32Array, seconds: number): { samplesPerSecond: number; loss: number } {
  const model = new Sequential([dense(784, 128, 'relu'), dense(128, 10)], { seed: 7, backend });
  const optimizer = new SGD(model, { lr: 0.05, momentum: 0.9 });
  const batches = labels.length / BATCH;
  const options = { loss: 'softmaxCrossEntropy' as const, optimizer };
  let steps = 0;
  let loss = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    const b = steps % batches;
    loss = model.trainStep(x.subarray(b * BATCH * 784, (b + 1) * BATCH * 784), labels.subarray(b * BATCH, (b + 1) * BATCH), options);
    steps++;
  }
  const elapsed = (performance.now() - start) / 1000;
  model.dispose();
  return { samplesPerSecond: (steps * BATCH) / elapsed, loss };
}

async function throughputDemo(description: string): Promise<void> {
  const { x, labels } = noisyPrototypes(BATCH * 32, 784, 10, 2, 3);
  console.log('\n784-128-10 relu/softmax cross-entropy, batch 64, SGD momentum 0.9, synthetic data, ~3 s per backend');
  const wasm = throughput('wasm', x, labels, 3);
  const js = throughput('js', x, labels, 3);
  const label = (text: string): string => `  ${text}:`.padEnd(description.length + 10);
  const rate = (samplesPerSecond: number): string => Math.round(samplesPerSecond).toLocaleString('en-US').padStart(9);
  console.log(`${label(`wasm (${description})`)}${rate(wasm.samplesPerSecond)} samples/s   (last loss ${wasm.loss.toPrecision(3)})`);
  console.log(`${label('pure JS')}${rate(js.samplesPerSecond)} samples/s   (last loss ${js.loss.toPrecision(3)})`);
  console.log(`${label('wasm / js')}${(wasm.samplesPerSecond / js.samplesPerSecond).toFixed(1).padStart(9)}×`);
}

const report = await init();
console.log(`simdprop backend: ${report.description}${report.reason ? ` (${report.reason})` : ''}\n`);
if (report.backend !== 'wasm') {
  console.log('WebAssembly SIMD is not available here: the demo runs on pure JS only.');
}
await classicDemo();
if (report.backend === 'wasm') await throughputDemo(report.description);
