// The demo page's CNN tab: LeNet-5 trains on MNIST digits in a Web Worker (trainInWorker), one epoch a
// job, while the page draws the loss curve from the worker's progress events; after each epoch the
// weights come back, and a drawing pad turned into an MNIST-like 28×28 digit is read by them, the 10
// class probabilities shown as bars.
import { loadModel, trainInWorker, type Model } from '../src/index.js';
import { CLASSES, lenet5, SIDE } from '../examples/lenet.js';
import { decodeDigits, mnistImage, softmax, type Digits } from './digits.js';
import { element } from './dom.js';
import { drawCurve, matchDevicePixels, nextFrame, type CurvePoint } from './plot.js';

const LR = 1e-3;
const SEED = 1;
// A pen about a fourteenth of the pad wide: a digit drawn across most of the pad, scaled to MNIST's
// 20-pixel box, gets strokes of about 2 pixels, as MNIST's have.
const PEN_WIDTH = 1 / 14;
// Beyond this many points the curve drops every other one, as the playground's does.
const CURVE_POINTS = 2000;

export interface CnnState {
  /** A model is made and the tab's buttons work. */
  ready: boolean;
  training: boolean;
  /** Where the weights come from: the seeded initialization, training here, or the example's file. */
  weights: 'fresh' | 'trained' | 'loaded';
  /** Epochs trained since the last reset (with a fraction while one runs) and batches trained. */
  epoch: number;
  steps: number;
  /** The first and the latest batch loss the worker reported since the last reset. */
  firstLoss: number;
  loss: number;
  /** Points on the loss curve. */
  curvePoints: number;
  /** Accuracy on the 1,000 held-out digits after the last epoch. */
  heldOutAccuracy: number;
  samplesPerSecond: number;
  /** The backend of the worker that trained last, from its 'ready' event. */
  worker: string;
  /** The drawing's probability of each digit (empty while the pad is blank), and the likeliest digit (−1: none). */
  probabilities: number[];
  prediction: number;
}

export interface CnnTab {
  state: CnnState;
  /** Makes the first model and enables the buttons (after init()). */
  start(): void;
  /** The tab has been shown: sizes its canvases to the device's pixels the first time (hidden, they have no size). */
  shown(): void;
}

/**
 * Wires the tab's controls. `enqueue` runs an action after the page's earlier ones (so a reset never
 * disposes a model a click is using); errors are the page's to show.
 */
export function cnnTab(enqueue: (action: () => void | Promise<void>) => void, showError: (error: unknown) => void): CnnTab {
  const ui = {
    train: element<HTMLButtonElement>('cnn-train'),
    stop: element<HTMLButtonElement>('cnn-stop'),
    reset: element<HTMLButtonElement>('cnn-reset'),
    load: element<HTMLButtonElement>('cnn-load'),
    digits: element<HTMLSelectElement>('cnn-digits'),
    epochs: element<HTMLInputElement>('cnn-epochs'),
    batch: element<HTMLInputElement>('cnn-batch'),
    status: element('cnn-status'),
    curve: element<HTMLCanvasElement>('cnn-curve'),
    pad: element<HTMLCanvasElement>('cnn-pad'),
    clear: element<HTMLButtonElement>('cnn-clear'),
    seen: element<HTMLCanvasElement>('cnn-seen'),
    bars: element('cnn-bars'),
  };
  const state: CnnState = {
    ready: false, training: false, weights: 'fresh', epoch: 0, steps: 0, firstLoss: NaN, loss: NaN, curvePoints: 0,
    heldOutAccuracy: NaN, samplesPerSecond: 0, worker: '', probabilities: [], prediction: -1,
  };
  let model: Model | undefined;
  let curve: CurvePoint[] = [];
  let digits: Promise<{ train: Digits; heldOut: Digits }> | undefined;
  let training: { controller: AbortController; done: Promise<void> } | undefined;

  const bars = Array.from({ length: CLASSES }, (_, digit) => {
    const label = Object.assign(document.createElement('span'), { textContent: String(digit) });
    const bar = document.createElement('div');
    bar.className = 'bar';
    const fill = bar.appendChild(document.createElement('div'));
    const value = Object.assign(document.createElement('span'), { className: 'rate', textContent: '–' });
    ui.bars.append(label, bar, value);
    return { label, fill, value };
  });

  function updateButtons(): void {
    ui.train.disabled = !state.ready || training !== undefined;
    ui.stop.disabled = training === undefined;
    ui.reset.disabled = !state.ready;
    ui.load.disabled = !state.ready || training !== undefined;
    state.training = training !== undefined;
  }

  function showStatus(): void {
    const parts = [`epoch ${state.epoch.toFixed(2)}`, `${state.steps} steps`];
    if (Number.isFinite(state.loss)) parts.push(`loss ${state.loss.toFixed(3)}`);
    if (Number.isFinite(state.heldOutAccuracy)) parts.push(`held-out accuracy ${(100 * state.heldOutAccuracy).toFixed(1)}%`);
    if (state.samplesPerSecond > 0) parts.push(`${Math.round(state.samplesPerSecond).toLocaleString('en-US')} samples/s`);
    parts.push(training ? `in a worker on ${state.worker || '…'}` : `${state.weights} weights`);
    ui.status.textContent = parts.join(' · ');
  }

  function addPoint(point: CurvePoint): void {
    curve.push(point);
    if (curve.length > CURVE_POINTS) curve = curve.filter((_, i, all) => i % 2 === 0 || i === all.length - 1);
    state.curvePoints = curve.length;
    drawCurve(ui.curve, curve);
  }

  // The pad's ink (its alpha: the pen draws opaque black on a transparent canvas) as MNIST's grey levels.
  function drawnDigit(): Float32Array | undefined {
    const { width, height } = ui.pad;
    const pixels = ui.pad.getContext('2d')!.getImageData(0, 0, width, height).data;
    const ink = new Float32Array(width * height);
    for (let i = 0; i < ink.length; i++) ink[i] = pixels[4 * i + 3] / 255;
    const image = mnistImage(ink, width, height);
    return image.some((level) => level > 0) ? image : undefined;
  }

  function showSeen(image: Float32Array | undefined): void {
    const picture = new ImageData(SIDE, SIDE);
    for (let i = 0; i < SIDE * SIDE; i++) {
      const grey = 255 - Math.round(255 * (image?.[i] ?? 0));
      picture.data.set([grey, grey, grey, 255], 4 * i);
    }
    ui.seen.getContext('2d')!.putImageData(picture, 0, 0);
  }

  // Reads the pad with the current model and shows the probabilities.
  function classify(): void {
    const image = drawnDigit();
    showSeen(image);
    // LeNet has one output, so predict gives one Float32Array of logits.
    state.probabilities = image && model ? softmax(model.predict(image) as Float32Array) : [];
    state.prediction = state.probabilities.length > 0 ? state.probabilities.indexOf(Math.max(...state.probabilities)) : -1;
    bars.forEach(({ label, fill, value }, digit) => {
      const probability = state.probabilities[digit];
      fill.style.width = `${100 * (probability ?? 0)}%`;
      value.textContent = probability === undefined ? '–' : `${(100 * probability).toFixed(1)}%`;
      label.classList.toggle('predicted', digit === state.prediction);
    });
  }

  function useModel(next: Model, weights: CnnState['weights']): void {
    model?.dispose();
    model = next;
    state.weights = weights;
    classify();
    showStatus();
  }

  function wholeNumber(input: HTMLInputElement, what: string): number {
    const value = Number(input.value);
    const [min, max] = [Number(input.min), Number(input.max)];
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${what} must be a whole number from ${min} to ${max}, got "${input.value}"`);
    return value;
  }

  function fetchDigits(): Promise<{ train: Digits; heldOut: Digits }> {
    digits ??= fetch('/mnist.bin').then(async (response) => {
      if (!response.ok) throw new Error(`/mnist.bin: ${response.status} ${response.statusText}`);
      return decodeDigits(new Uint8Array(await response.arrayBuffer()));
    });
    digits.catch(() => (digits = undefined));
    return digits;
  }

  // One trainInWorker job per epoch, each continuing from the weights the last one gave back, so the
  // pad reads a model that is at most an epoch old (the optimizer's state does not travel: each epoch's
  // Adam starts afresh, which costs LeNet little). Stop ends the epoch's job between batches, and the
  // weights trained so far still come back.
  async function trainEpochs(signal: AbortSignal): Promise<void> {
    const epochs = wholeNumber(ui.epochs, 'epochs');
    const batchSize = wholeNumber(ui.batch, 'batch size');
    const { train, heldOut } = await fetchDigits();
    const rows = Math.min(Number(ui.digits.value), train.labels.length);
    const heldRows = heldOut.labels.length;
    const pixels = SIDE * SIDE;
    const batches = Math.ceil(rows / batchSize);
    for (let epoch = 0; epoch < epochs && !signal.aborted; epoch++) {
      // The job transfers x and y to the worker, emptying them here: each epoch sends a fresh copy,
      // the held-out digits last, as fit's validationSplit takes them.
      const x = new Float32Array((rows + heldRows) * pixels);
      x.set(train.x.subarray(0, rows * pixels));
      x.set(heldOut.x, rows * pixels);
      const y = new Int32Array(rows + heldRows);
      y.set(train.labels.subarray(0, rows));
      y.set(heldOut.labels, rows);
      // After a Stop mid-epoch the count goes on from the fraction trained, so the curve never turns back.
      const epochsBefore = state.epoch;
      const stepsBefore = state.steps;
      const job = trainInWorker({
        model: model!, x, y, signal, init: { wasmUrl: '/build/' }, workerUrl: new URL('/worker.js', location.href),
        fit: {
          loss: 'softmaxCrossEntropy', optimizer: { kind: 'adam', lr: LR }, epochs: 1, batchSize, metrics: ['accuracy'],
          // fit holds out floor(rows · split): half a row more than the held-out digits keeps rounding from dropping one.
          validationSplit: (heldRows + 0.5) / (rows + heldRows), seed: stepsBefore,
        },
      });
      for await (const event of job.events) {
        if (event.type === 'ready') state.worker = event.description;
        if (event.type === 'batch') {
          Object.assign(state, {
            steps: stepsBefore + event.batch + 1, epoch: epochsBefore + (event.batch + 1) / batches, loss: event.loss,
            samplesPerSecond: event.samplesPerSecond,
          });
          if (!Number.isFinite(state.firstLoss)) state.firstLoss = event.loss;
          addPoint({ epoch: state.epoch, loss: event.loss });
        }
        if (event.type === 'epoch') {
          Object.assign(state, { epoch: epochsBefore + 1, steps: stepsBefore + batches, heldOutAccuracy: event.logs.valAccuracy, samplesPerSecond: event.samplesPerSecond });
          addPoint({ epoch: state.epoch, accuracy: event.logs.valAccuracy });
        }
        showStatus();
      }
      useModel((await job.result).model, 'trained');
      await nextFrame();
    }
  }

  function startTraining(): void {
    if (!model || training) return;
    const controller = new AbortController();
    const done = trainEpochs(controller.signal).catch(showError).finally(() => {
      training = undefined;
      showStatus();
      updateButtons();
    });
    training = { controller, done };
    updateButtons();
  }

  async function stopTraining(): Promise<void> {
    training?.controller.abort();
    await training?.done;
  }

  function clearCurve(): void {
    curve = [];
    Object.assign(state, { epoch: 0, steps: 0, firstLoss: NaN, loss: NaN, heldOutAccuracy: NaN, samplesPerSecond: 0, curvePoints: 0 });
    drawCurve(ui.curve, curve);
  }

  async function reset(): Promise<void> {
    await stopTraining();
    clearCurve();
    useModel(lenet5({ seed: SEED }), 'fresh');
  }

  async function loadTrained(): Promise<void> {
    const response = await fetch('/lenet.safetensors');
    if (!response.ok) throw new Error('no lenet.safetensors next to the demo: `npm run example:cnn` writes it');
    const loaded = loadModel(new Uint8Array(await response.arrayBuffer()));
    clearCurve();
    useModel(loaded, 'loaded');
  }

  // The pen: pointer events, so a mouse, a pen and a finger all draw.
  let drawing = false;
  let classifyQueued = false;
  const penAt = (event: PointerEvent): [number, number] => {
    const box = ui.pad.getBoundingClientRect();
    return [((event.clientX - box.left) / box.width) * ui.pad.width, ((event.clientY - box.top) / box.height) * ui.pad.height];
  };
  ui.pad.addEventListener('pointerdown', (event) => {
    drawing = true;
    ui.pad.setPointerCapture(event.pointerId);
    const context = ui.pad.getContext('2d')!;
    Object.assign(context, { lineWidth: PEN_WIDTH * ui.pad.width, lineCap: 'round', lineJoin: 'round', strokeStyle: 'black' });
    context.beginPath();
    context.moveTo(...penAt(event));
    context.lineTo(...penAt(event));
    context.stroke();
  });
  ui.pad.addEventListener('pointermove', (event) => {
    if (!drawing) return;
    const context = ui.pad.getContext('2d')!;
    context.lineTo(...penAt(event));
    context.stroke();
    // Reads the pad once a frame at most while the pen moves.
    if (classifyQueued) return;
    classifyQueued = true;
    requestAnimationFrame(() => {
      classifyQueued = false;
      classify();
    });
  });
  const lift = (): void => {
    if (!drawing) return;
    drawing = false;
    classify();
  };
  ui.pad.addEventListener('pointerup', lift);
  ui.pad.addEventListener('pointercancel', lift);
  ui.clear.addEventListener('click', () => {
    ui.pad.getContext('2d')!.clearRect(0, 0, ui.pad.width, ui.pad.height);
    classify();
  });

  ui.train.addEventListener('click', () => enqueue(startTraining));
  ui.stop.addEventListener('click', () => enqueue(stopTraining));
  ui.reset.addEventListener('click', () => enqueue(reset));
  ui.load.addEventListener('click', () => enqueue(loadTrained));

  return {
    state,
    start() {
      useModel(lenet5({ seed: SEED }), 'fresh');
      state.ready = true;
      updateButtons();
    },
    shown() {
      if (ui.pad.width !== Math.round(ui.pad.clientWidth * (window.devicePixelRatio || 1))) {
        matchDevicePixels(ui.pad);
        matchDevicePixels(ui.curve);
      }
      drawCurve(ui.curve, curve);
    },
  };
}
