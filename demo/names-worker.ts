// The Names GPT tab's Web Worker: the GPT of examples/names-task.ts trained on the token stream the page
// sends, step after step while it is told to train, in chunks of about CHUNK_MS between which it posts
// the running train loss and reads the page's messages; the held-out loss every EVALUATE_EVERY steps,
// and ten sampled names every NAMES_EVERY_MS. The model lives here; Reset ends the worker.
import { CharTokenizer, gpt, init, Rng } from '../src/index.js';
import { NAMES_BATCH, NAMES_GPT, namesOptimizer, sampleBatch, sampleName } from '../examples/names-task.js';
import { EVALUATE_EVERY, NAMES_AT_ONCE, SCHEDULE_STEPS, type NamesReport, type NamesRequest } from './names-protocol.js';

/** Ten names (NAMES_AT_ONCE) this often. */
const NAMES_EVERY_MS = 3000;
/** Training between two messages: the page's curve moves this often, and Stop takes at most this long. */
const CHUNK_MS = 250;
/** The running train loss: each step's loss weighs this much, as examples/names.ts's. */
const RUNNING_WEIGHT = 0.02;

const scope = globalThis as unknown as { postMessage(message: NamesReport): void; onmessage: ((event: MessageEvent<NamesRequest>) => void) | null };
const post = (report: NamesReport): void => scope.postMessage(report);

// The model, its optimizer and the batches, and how far training has gone: it carries on after a Stop.
interface Trainer {
  step(): number;
  evaluate(): number;
  sample(seed: number): string;
  lr(): number;
  steps: number;
  trainLoss: number;
  trainingMs: number;
  namesSeed: number;
}

let trainer: Promise<Trainer> | undefined;
let training = false;
let looping = false;

async function setUp(start: Extract<NamesRequest, { type: 'start' }>): Promise<Trainer> {
  const report = await init({ wasmUrl: start.wasmUrl });
  const tokenizer = CharTokenizer.fromJSON(start.tokenizer);
  const model = gpt({ vocabSize: tokenizer.vocabSize, ...NAMES_GPT }, { seed: 1 });
  const { optimizer, scheduler } = namesOptimizer(model, SCHEDULE_STEPS);
  // The batches are seeded, so the held-out loss at each step is the same every run.
  const rng = new Rng(2);
  const inputs = new Int32Array(NAMES_BATCH * NAMES_GPT.blockSize);
  const targets = new Int32Array(NAMES_BATCH * NAMES_GPT.blockSize);
  post({ type: 'ready', description: report.description, parameters: model.parameterCount });
  const evaluate = (): number => model.evaluate(start.heldOut.inputs, start.heldOut.targets, { loss: 'softmaxCrossEntropy', batchSize: 256 }).loss;
  post({ type: 'progress', steps: 0, trainLoss: NaN, heldOutLoss: evaluate(), lr: optimizer.lr, tokensPerSecond: 0 });
  return {
    step() {
      sampleBatch(start.trainStream, NAMES_BATCH, NAMES_GPT.blockSize, rng, inputs, targets);
      const loss = model.trainStep(inputs, targets, { loss: 'softmaxCrossEntropy', optimizer, clipNorm: 1 });
      scheduler.step();
      return loss;
    },
    evaluate,
    sample: (seed) => sampleName(model, tokenizer, seed),
    lr: () => optimizer.lr,
    steps: 0, trainLoss: NaN, trainingMs: 0, namesSeed: 0,
  };
}

// Lets the page's messages in (a Stop) between chunks.
const yieldToMessages = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

async function trainWhileAsked(current: Trainer): Promise<void> {
  let lastNames = performance.now();
  for (await yieldToMessages(); training; await yieldToMessages()) {
    const chunkStart = performance.now();
    do {
      const loss = current.step();
      current.trainLoss = current.steps === 0 ? loss : (1 - RUNNING_WEIGHT) * current.trainLoss + RUNNING_WEIGHT * loss;
      current.steps++;
    } while (current.steps % EVALUATE_EVERY !== 0 && performance.now() - chunkStart < CHUNK_MS);
    current.trainingMs += performance.now() - chunkStart;
    const { steps, trainLoss } = current;
    const tokensPerSecond = (steps * NAMES_BATCH * NAMES_GPT.blockSize * 1000) / current.trainingMs;
    const heldOutLoss = steps % EVALUATE_EVERY === 0 ? current.evaluate() : undefined;
    post({ type: 'progress', steps, trainLoss, heldOutLoss, lr: current.lr(), tokensPerSecond });
    if (performance.now() - lastNames >= NAMES_EVERY_MS) {
      lastNames = performance.now();
      post({ type: 'names', steps, names: Array.from({ length: NAMES_AT_ONCE }, () => current.sample(current.namesSeed++)) });
    }
  }
  post({ type: 'stopped' });
}

function fail(error: unknown): void {
  training = false;
  post({ type: 'error', message: error instanceof Error ? error.message : String(error) });
}

scope.onmessage = ({ data: request }) => {
  if (request.type === 'start') {
    trainer = setUp(request);
    trainer.catch(fail);
  }
  if (request.type === 'train' && trainer) {
    training = true;
    if (looping) return;
    looping = true;
    // A failed setUp was reported when it failed.
    trainer.then(trainWhileAsked, () => undefined).catch(fail).finally(() => (looping = false));
  }
  if (request.type === 'stop') training = false;
};
