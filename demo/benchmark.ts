// The benchmark tab's workload, the one `npm start` measures: a 784-128-10 relu network, softmax cross-
// entropy, SGD (lr 0.05, momentum 0.9), batches of 64 rows of seeded synthetic data, trained for a
// few seconds on one backend in slices, so that the page repaints and shows the rate as it goes.
import { dense, noisyPrototypes, Sequential, SGD, type BackendName } from '../src/index.js';
import { nextFrame } from './plot.js';

const FEATURES = 784;
const CLASSES = 10;
const BATCH = 64;
const BATCHES = 32;
// Long enough that the repaint between slices costs little, short enough to update the rate smoothly.
const SLICE_MS = 50;

export interface Throughput {
  samplesPerSecond: number;
  /** The last batch's loss. */
  loss: number;
  /** Time spent training so far (repaints excluded). */
  seconds: number;
}

export interface BenchmarkData {
  x: Float32Array;
  labels: Int32Array;
}

/** 32 batches of 64 rows around 10 prototypes (noise 2, seed 3), as in `npm start`. */
export function benchmarkData(): BenchmarkData {
  return noisyPrototypes(BATCH * BATCHES, FEATURES, CLASSES, 2, 3);
}

/** Trains a fresh 784-128-10 network on `backend` for `seconds`, reporting the rate after each slice. */
export async function measureThroughput(
  backend: BackendName, data: BenchmarkData, seconds: number, onProgress: (throughput: Throughput) => void,
): Promise<Throughput> {
  const model = new Sequential([dense(FEATURES, 128, 'relu'), dense(128, CLASSES)], { seed: 7, backend });
  const options = { loss: 'softmaxCrossEntropy' as const, optimizer: new SGD(model, { lr: 0.05, momentum: 0.9 }) };
  let steps = 0;
  let busyMs = 0;
  let loss = NaN;
  const throughput = (): Throughput => ({ samplesPerSecond: (steps * BATCH) / (busyMs / 1000), loss, seconds: busyMs / 1000 });
  try {
    while (busyMs < seconds * 1000) {
      const start = performance.now();
      do {
        const batch = steps % BATCHES;
        const x = data.x.subarray(batch * BATCH * FEATURES, (batch + 1) * BATCH * FEATURES);
        loss = model.trainStep(x, data.labels.subarray(batch * BATCH, (batch + 1) * BATCH), options);
        steps++;
      } while (performance.now() - start < SLICE_MS);
      busyMs += performance.now() - start;
      onProgress(throughput());
      await nextFrame();
    }
  } finally {
    model.dispose();
  }
  return throughput();
}
