// The main job (`npm start`): (1) the classic demo — a 2-4-1 network learns x0 + x1 > 0 with BCE and
// SGD; (2) a 784-128-10 softmax network trained for about 3 seconds on each backend, side by side.
import { init, Rng, Sequential, SGD, dense, type BackendName } from '../src/index.js';

function classicData(rows: number, seed: number): { x: Float32Array; y: Float32Array } {
  const rng = new Rng(seed);
  const x = new Float32Array(rows * 2);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    x[2 * r] = rng.normal();
    x[2 * r + 1] = rng.normal();
    y[r] = x[2 * r] + x[2 * r + 1] > 0 ? 1 : 0;
  }
  return { x, y };
}

async function classicDemo(): Promise<void> {
  const { x, y } = classicData(100, 42);
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

// Synthetic digits-like data: 10 random class prototypes in 784 dimensions plus noise.
function syntheticData(rows: number, seed: number): { x: Float32Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const prototypes = new Float32Array(10 * 784);
  for (let i = 0; i < prototypes.length; i++) prototypes[i] = rng.uniform();
  const x = new Float32Array(rows * 784);
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const label = rng.below(10);
    labels[r] = label;
    for (let c = 0; c < 784; c++) x[r * 784 + c] = prototypes[label * 784 + c] + 2 * rng.normal();
  }
  return { x, labels };
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

async function throughputDemo(): Promise<void> {
  const { x, labels } = syntheticData(BATCH * 32, 3);
  console.log('\n784-128-10 relu/softmax cross-entropy, batch 64, SGD momentum 0.9, synthetic data, ~3 s per backend');
  const wasm = throughput('wasm', x, labels, 3);
  console.log(`  wasm simd128: ${Math.round(wasm.samplesPerSecond).toLocaleString('en-US').padStart(9)} samples/s   (last loss ${wasm.loss.toFixed(4)})`);
  const js = throughput('js', x, labels, 3);
  console.log(`  pure JS:      ${Math.round(js.samplesPerSecond).toLocaleString('en-US').padStart(9)} samples/s   (last loss ${js.loss.toFixed(4)})`);
  console.log(`  wasm / js:    ${(wasm.samplesPerSecond / js.samplesPerSecond).toFixed(1)}×`);
}

const report = await init();
console.log(`simdprop backend: ${report.description}${report.reason ? ` (${report.reason})` : ''}\n`);
if (report.backend !== 'wasm') {
  console.log('WebAssembly SIMD is not available here: the demo runs on pure JS only.');
}
await classicDemo();
if (report.backend === 'wasm') await throughputDemo();
