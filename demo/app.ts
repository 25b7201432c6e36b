// The demo page: a playground (a 2-D data set, a small network, its decision boundary and loss curve
// redrawn as it trains), a benchmark tab (WebAssembly SIMD against pure JS on 784-128-10), a CNN tab
// (LeNet-5 trained on MNIST in a worker, reading digits drawn on a pad: demo/cnn.ts) and a Names GPT
// tab (a character-level GPT trained on first names in a worker, sampling names: demo/names.ts).
// window.demo holds the page's state, for people poking at it in the console and for the browser test.
import { Adam, dense, init, Sequential, SGD, type ActivationName, type BackendName, type Optimizer } from '../src/index.js';
import { benchmarkData, measureThroughput, type BenchmarkData } from './benchmark.js';
import { cnnTab, type CnnState } from './cnn.js';
import { DATASETS, makeDataset, type DatasetName, type Points } from './datasets.js';
import { element } from './dom.js';
import { namesTab, type NamesState } from './names.js';
import { drawBoundary, drawCurve, gridPoints, matchDevicePixels, nextFrame, type CurvePoint } from './plot.js';

const ROWS = 400;
// Beyond this many points on the loss curve every other one is dropped: drawing stays well under a frame.
const CURVE_POINTS = 2000;
// "As many epochs as 40 ms allow": the same share of the event loop fit() itself keeps before yielding.
const FRAME_BUDGET_MS = 40;
const ACTIVATIONS: readonly ActivationName[] = ['relu', 'tanh', 'sigmoid', 'leakyRelu', 'gelu'];

export interface DemoState {
  /** init() has loaded the backend and the first model is drawn. */
  ready: boolean;
  /** The error the page shows, until an action succeeds. */
  error?: string;
  isolated: boolean;
  /** From init(): the default backend, its description, threads, and why it is not the fastest if not. */
  backend: BackendName | '';
  description: string;
  threads: number;
  reason?: string;
  training: boolean;
  /** Epochs trained since the last reset, and the loss and accuracy on the data set after them. */
  epoch: number;
  loss: number;
  accuracy: number;
  /** Loss and accuracy of the freshly initialized model. */
  initialLoss: number;
  initialAccuracy: number;
  /** Rows trained per second of training (redraws excluded). */
  samplesPerSecond: number;
  benchmark: { running: boolean; done: boolean; wasm: number; js: number; ratio: number };
  cnn: CnnState;
  names: NamesState;
}

declare global {
  interface Window {
    demo: DemoState;
  }
}

// UI actions run one after another, so a reset never disposes a model that a Train click is about to use.
let queue: Promise<void> = Promise.resolve();
function enqueue(action: () => void | Promise<void>): void {
  queue = queue.then(action).catch(showError);
}

const cnn = cnnTab(enqueue, showError);
const names = namesTab(enqueue, showError);
const state: DemoState = window.demo = {
  ready: false, isolated: crossOriginIsolated, backend: '', description: '', threads: 0, training: false,
  epoch: 0, loss: NaN, accuracy: NaN, initialLoss: NaN, initialAccuracy: NaN, samplesPerSecond: 0,
  benchmark: { running: false, done: false, wasm: 0, js: 0, ratio: 0 }, cnn: cnn.state, names: names.state,
};

const ui = {
  runtime: element('runtime'),
  status: element('status'),
  message: element('message'),
  architecture: element('architecture'),
  train: element<HTMLButtonElement>('train'),
  stop: element<HTMLButtonElement>('stop'),
  reset: element<HTMLButtonElement>('reset'),
  dataset: element<HTMLSelectElement>('dataset'),
  noise: element<HTMLInputElement>('noise'),
  noiseValue: element<HTMLOutputElement>('noise-value'),
  seed: element<HTMLInputElement>('seed'),
  layers: element<HTMLInputElement>('layers'),
  activation: element<HTMLSelectElement>('activation'),
  optimizer: element<HTMLSelectElement>('optimizer'),
  lr: element<HTMLInputElement>('lr'),
  batch: element<HTMLInputElement>('batch'),
  backend: element<HTMLSelectElement>('backend'),
  speed: element<HTMLSelectElement>('speed'),
  boundary: element<HTMLCanvasElement>('boundary'),
  curve: element<HTMLCanvasElement>('curve'),
  benchRun: element<HTMLButtonElement>('bench-run'),
  benchSeconds: element<HTMLInputElement>('bench-seconds'),
  benchWasmLabel: element('bench-wasm-label'),
  benchWasmBar: element('bench-wasm-bar'),
  benchWasm: element('bench-wasm'),
  benchJsBar: element('bench-js-bar'),
  benchJs: element('bench-js'),
  benchRatio: element('bench-ratio'),
};

// One model and optimizer on one data set, and what training has done to them since the last reset.
interface Session {
  data: Points;
  model: Sequential;
  optimizer: Optimizer;
  epoch: number;
  curve: CurvePoint[];
  trainedRows: number;
  trainingMs: number;
}

let session: Session | undefined;
let training: { controller: AbortController; done: Promise<void> } | undefined;
let benchmarking = false;
let benchmarkRows: BenchmarkData | undefined;
const grid = gridPoints();

function showError(error: unknown): void {
  const text = error instanceof Error ? error.message : String(error);
  state.error = text;
  ui.message.textContent = text;
  ui.message.hidden = false;
  console.error(error);
}

function clearError(): void {
  state.error = undefined;
  ui.message.hidden = true;
}

function number(input: HTMLInputElement, what: string, min: number, integer = false): number {
  const value = Number(input.value);
  if (input.value.trim() === '' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new Error(`${what} must be ${integer ? 'a whole number' : 'a number'} ≥ ${min}, got "${input.value}"`);
  }
  return value;
}

function hiddenSizes(): number[] {
  const text = ui.layers.value;
  const sizes = text.split(/[\s,]+/).filter(Boolean).map(Number);
  if (sizes.length > 8 || sizes.some((size) => !Number.isInteger(size) || size < 1 || size > 256)) {
    throw new Error(`hidden layers: up to 8 sizes from 1 to 256, separated by commas (empty: none), got "${text}"`);
  }
  return sizes;
}

function createSession(): Session {
  const dataset = ui.dataset.value as DatasetName;
  if (!DATASETS.includes(dataset)) throw new Error(`unknown data set "${dataset}"`);
  const activation = ui.activation.value as ActivationName;
  if (!ACTIVATIONS.includes(activation)) throw new Error(`unknown activation "${activation}"`);
  const seed = number(ui.seed, 'seed', 0, true);
  const hidden = hiddenSizes();
  const lr = number(ui.lr, 'learning rate', 0);
  const sizes = [2, ...hidden];
  const layers = hidden.map((size, i) => dense(sizes[i], size, activation));
  layers.push(dense(sizes[sizes.length - 1], 1, 'sigmoid'));
  const model = new Sequential(layers, { seed, backend: ui.backend.value as BackendName });
  try {
    const optimizer = ui.optimizer.value === 'sgd' ? new SGD(model, { lr }) : new Adam(model, { lr });
    const data = makeDataset(dataset, ROWS, Number(ui.noise.value), seed);
    ui.architecture.textContent = `${[...sizes, 1].join(' → ')}: ${hidden.length > 0 ? `${activation}, then ` : ''}sigmoid; `
      + `BCE; ${model.parameterCount.toLocaleString('en-US')} parameters`;
    return { data, model, optimizer, epoch: 0, curve: [], trainedRows: 0, trainingMs: 0 };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

// Loss and accuracy on the whole data set now: a point of the curve, and the figures the page shows.
function record(current: Session): void {
  const { loss, accuracy } = current.model.evaluate(current.data.x, current.data.y, { loss: 'bce', metrics: ['accuracy'] });
  current.curve.push({ epoch: current.epoch, loss, accuracy });
  if (current.curve.length > CURVE_POINTS) current.curve = current.curve.filter((_, i, all) => i % 2 === 0 || i === all.length - 1);
  Object.assign(state, {
    epoch: current.epoch, loss, accuracy,
    samplesPerSecond: current.trainingMs > 0 ? current.trainedRows / (current.trainingMs / 1000) : 0,
  });
  if (current.epoch === 0) Object.assign(state, { initialLoss: loss, initialAccuracy: accuracy });
}

function render(current: Session): void {
  drawBoundary(ui.boundary, current.model.predict(grid), current.data);
  drawCurve(ui.curve, current.curve);
  const rate = state.samplesPerSecond > 0 ? `${Math.round(state.samplesPerSecond).toLocaleString('en-US')} samples/s` : '– samples/s';
  const loss = state.loss < 1e-3 ? state.loss.toExponential(1) : state.loss.toFixed(3);
  ui.status.textContent = `epoch ${current.epoch} · loss ${loss} · accuracy ${(100 * state.accuracy).toFixed(1)}%`
    + ` · ${rate} · on ${current.model.backend.description}`;
}

function updateButtons(): void {
  ui.train.disabled = !session || training !== undefined || benchmarking;
  ui.stop.disabled = training === undefined;
  ui.reset.disabled = !session || benchmarking;
  ui.benchRun.disabled = !state.ready || benchmarking;
  state.training = training !== undefined;
  state.benchmark.running = benchmarking;
}

async function stopTraining(): Promise<void> {
  training?.controller.abort();
  await training?.done;
}

/** A new model (and data set) from the controls; on a bad setting the current one stays. */
async function reset(): Promise<void> {
  await stopTraining();
  const next = createSession();
  session?.model.dispose();
  session = next;
  clearError();
  record(next);
  render(next);
  updateButtons();
}

// Trains in chunks of epochs, one chunk per frame; a chunk ends early when Stop aborts the signal.
async function trainLoop(current: Session, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const epochsPerFrame = Number(ui.speed.value);
    const start = performance.now();
    const history = await current.model.fit(current.data.x, current.data.y, {
      loss: 'bce', optimizer: current.optimizer, batchSize: number(ui.batch, 'batch size', 1, true),
      epochs: epochsPerFrame || Number.MAX_SAFE_INTEGER, seed: current.epoch, signal,
      callbacks: epochsPerFrame ? [] : [{
        onEpochEnd(_epoch, _logs, context) {
          if (performance.now() - start >= FRAME_BUDGET_MS) context.stop('frame');
        },
      }],
    });
    current.trainingMs += performance.now() - start;
    current.epoch += history.epochs;
    current.trainedRows += history.epochs * ROWS;
    record(current);
    render(current);
    await nextFrame();
  }
}

function startTraining(): void {
  if (!session || training || benchmarking) return;
  const controller = new AbortController();
  const done = trainLoop(session, controller.signal).catch(showError).finally(() => {
    training = undefined;
    updateButtons();
  });
  training = { controller, done };
  updateButtons();
}

function setLearningRate(): void {
  const lr = number(ui.lr, 'learning rate', 0);
  if (session) session.optimizer.lr = lr;
  clearError();
}

function showBenchmark(): void {
  const { wasm, js } = state.benchmark;
  const top = Math.max(wasm, js, 1);
  const rate = (value: number): string => (value > 0 ? `${Math.round(value).toLocaleString('en-US')} samples/s` : '–');
  ui.benchWasm.textContent = rate(wasm);
  ui.benchJs.textContent = rate(js);
  ui.benchWasmBar.style.width = `${(100 * wasm) / top}%`;
  ui.benchJsBar.style.width = `${(100 * js) / top}%`;
  state.benchmark.ratio = wasm > 0 && js > 0 ? wasm / js : 0;
  ui.benchRatio.textContent = state.benchmark.ratio > 0 ? `WebAssembly SIMD / pure JS: ${state.benchmark.ratio.toFixed(1)}×` : '';
}

async function runBenchmark(): Promise<void> {
  const seconds = number(ui.benchSeconds, 'seconds per backend', 0.1);
  await stopTraining();
  benchmarking = true;
  updateButtons();
  Object.assign(state.benchmark, { done: false, wasm: 0, js: 0, ratio: 0 });
  showBenchmark();
  try {
    benchmarkRows ??= benchmarkData();
    const backends: BackendName[] = state.backend === 'wasm' ? ['wasm', 'js'] : ['js'];
    for (const backend of backends) {
      await measureThroughput(backend, benchmarkRows, seconds, ({ samplesPerSecond }) => {
        state.benchmark[backend] = samplesPerSecond;
        showBenchmark();
      });
    }
    state.benchmark.done = true;
  } finally {
    benchmarking = false;
    updateButtons();
  }
}

function selectTab(selected: HTMLElement): void {
  document.querySelectorAll<HTMLElement>('[role="tab"]').forEach((tab) => {
    tab.setAttribute('aria-selected', String(tab === selected));
    element(tab.getAttribute('aria-controls')!).hidden = tab !== selected;
  });
  if (selected.id === 'tab-cnn') cnn.shown();
  if (selected.id === 'tab-names') names.shown();
}

async function start(): Promise<void> {
  matchDevicePixels(ui.boundary);
  matchDevicePixels(ui.curve);
  const report = await init({ wasmUrl: '/build/' });
  Object.assign(state, { backend: report.backend, description: report.description, threads: report.threads, reason: report.reason });
  ui.runtime.textContent = `${report.description} · ${crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated'}`
    + (report.reason ? ` · ${report.reason}` : '');
  if (report.backend === 'wasm') {
    ui.benchWasmLabel.textContent = `WebAssembly (${report.description.replace(/^wasm /, '')})`;
  } else {
    ui.backend.value = 'js';
    ui.backend.querySelector<HTMLOptionElement>('option[value="wasm"]')!.disabled = true;
    ui.benchWasmLabel.textContent = 'WebAssembly SIMD (unavailable here)';
  }
  await reset();
  cnn.start();
  names.start();
  state.ready = true;
  updateButtons();
}

for (const control of [ui.dataset, ui.seed, ui.layers, ui.activation, ui.optimizer, ui.backend]) {
  control.addEventListener('change', () => enqueue(reset));
}
ui.noise.addEventListener('input', () => {
  ui.noiseValue.value = Number(ui.noise.value).toFixed(2);
  enqueue(reset);
});
ui.lr.addEventListener('change', () => enqueue(setLearningRate));
ui.train.addEventListener('click', () => enqueue(startTraining));
ui.stop.addEventListener('click', () => enqueue(stopTraining));
ui.reset.addEventListener('click', () => enqueue(reset));
ui.benchRun.addEventListener('click', () => enqueue(runBenchmark));
document.querySelectorAll<HTMLElement>('[role="tab"]').forEach((tab) => tab.addEventListener('click', () => selectTab(tab)));
enqueue(start);
