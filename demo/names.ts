// The demo page's Names GPT tab: the character-level GPT of examples/names-task.ts trains on English first
// names in a Web Worker (demo/names-worker.ts), while the page draws the train and held-out loss per
// character against the bigram baseline's, and lists the ten names the worker samples every few seconds,
// marking those that are real names (in the training names, or held out). The page fetches the names
// (/names.json), splits and tokenizes them and scores the bigram; the worker gets the token streams.
import { NAMES_BATCH, NAMES_GPT, namesTask, type NamesTask } from '../examples/names-task.js';
import { element } from './dom.js';
import { EVALUATE_EVERY, SCHEDULE_STEPS, type NamesReport, type NamesRequest } from './names-protocol.js';
import { drawCurve, matchDevicePixels, type CurvePoint } from './plot.js';

// Beyond this many points the curve drops every other train-loss point (held-out points stay).
const CURVE_POINTS = 2000;

/** Where a sampled name is found among the real ones, if anywhere. */
export type NameSource = 'training' | 'held-out' | 'new';

export interface NamesState {
  /** The names are loaded, split and scored by the bigram, and Train works. */
  ready: boolean;
  training: boolean;
  /** The split: names to train on and held out, the training stream's length (characters and '.'s), the vocabulary. */
  trainNames: number;
  heldOutNames: number;
  trainTokens: number;
  vocabSize: number;
  /** The bigram's loss per character in nats on the held-out positions: the curve's dashed line. */
  bigram: number;
  /** From the worker's 'ready' event: its backend and the model's parameters. */
  worker: string;
  parameters: number;
  steps: number;
  /** Passes over the training stream's characters: steps × batch × context / trainTokens. */
  epoch: number;
  lr: number;
  /** The latest running mean of the batch losses, and the latest held-out loss. */
  trainLoss: number;
  heldOutLoss: number;
  /** Every held-out loss since the last reset, step 0 first. */
  heldOut: { steps: number; loss: number }[];
  curvePoints: number;
  /** Tokens (positions) trained per second of training, evaluation and sampling left out. */
  tokensPerSecond: number;
  /** The latest ten names, the step they were sampled at, and how many batches of ten have come. */
  samples: { name: string; source: NameSource }[];
  sampledAt: number;
  sampleBatches: number;
}

export interface NamesTab {
  state: NamesState;
  /** Loads the names (queued after the page's earlier actions) and enables the buttons. */
  start(): void;
  /** The tab has been shown: sizes its canvas to the device's pixels the first time (hidden, it has no size). */
  shown(): void;
}

/** Wires the tab's controls; `enqueue` runs an action after the page's earlier ones, errors are the page's to show. */
export function namesTab(enqueue: (action: () => void | Promise<void>) => void, showError: (error: unknown) => void): NamesTab {
  const ui = {
    train: element<HTMLButtonElement>('names-train'),
    stop: element<HTMLButtonElement>('names-stop'),
    reset: element<HTMLButtonElement>('names-reset'),
    status: element('names-status'),
    architecture: element('names-architecture'),
    curve: element<HTMLCanvasElement>('names-curve'),
    bigram: element('names-bigram'),
    sampled: element('names-sampled'),
    samples: element('names-samples'),
  };
  // What a reset clears: all that training has done.
  const fresh = () => ({
    worker: '', parameters: 0, steps: 0, epoch: 0, lr: NaN, trainLoss: NaN, heldOutLoss: NaN, heldOut: [], curvePoints: 0,
    tokensPerSecond: 0, samples: [], sampledAt: 0, sampleBatches: 0,
  }) satisfies Partial<NamesState>;
  const state: NamesState = {
    ready: false, training: false, trainNames: 0, heldOutNames: 0, trainTokens: 0, vocabSize: 0, bigram: NaN, ...fresh(),
  };
  let task: NamesTask | undefined;
  let sources = new Map<string, NameSource>();
  let curve: CurvePoint[] = [];
  let worker: Worker | undefined;
  // Resolves when the worker has stopped (or failed, or was ended).
  let stopped: (() => void) | undefined;

  function updateButtons(): void {
    ui.train.disabled = !state.ready || state.training;
    ui.stop.disabled = !state.training;
    ui.reset.disabled = !state.ready;
  }

  function showStatus(): void {
    const parts = [`step ${state.steps.toLocaleString('en-US')}`, `epoch ${state.epoch.toFixed(2)}`];
    if (Number.isFinite(state.lr)) parts.push(`lr ${state.lr.toExponential(1)}`);
    if (Number.isFinite(state.trainLoss)) parts.push(`train loss ${state.trainLoss.toFixed(3)}`);
    if (Number.isFinite(state.heldOutLoss)) parts.push(`held-out loss ${state.heldOutLoss.toFixed(3)}`);
    if (state.tokensPerSecond > 0) parts.push(`${Math.round(state.tokensPerSecond).toLocaleString('en-US')} tokens/s`);
    parts.push(state.training ? `in a worker on ${state.worker || '…'}` : state.steps > 0 ? 'stopped' : 'fresh model');
    ui.status.textContent = parts.join(' · ');
  }

  function showArchitecture(): void {
    const parameters = state.parameters > 0 ? `: ${state.parameters.toLocaleString('en-US')} parameters` : '';
    ui.architecture.textContent = `${NAMES_GPT.nLayer} layers, ${NAMES_GPT.nHead} heads, ${NAMES_GPT.nEmbd} wide, context ${NAMES_GPT.blockSize}${parameters}; `
      + `batches of ${NAMES_BATCH}; the cosine runs ${SCHEDULE_STEPS.toLocaleString('en-US')} steps; `
      + `${state.trainNames.toLocaleString('en-US')} names to train on (${state.trainTokens.toLocaleString('en-US')} tokens), `
      + `${state.heldOutNames.toLocaleString('en-US')} held out, held-out loss every ${EVALUATE_EVERY} steps; vocabulary ${state.vocabSize} ('.' starts and ends a name)`;
  }

  function redraw(): void {
    state.curvePoints = curve.length;
    drawCurve(ui.curve, curve, task?.bigram);
  }

  function showSamples(): void {
    ui.samples.replaceChildren(...state.samples.map(({ name, source }) => {
      const item = Object.assign(document.createElement('li'), { textContent: name });
      if (source !== 'new') {
        item.className = source;
        item.title = source === 'training' ? 'one of the training names' : 'a real name the model never saw (held out)';
      }
      return item;
    }));
    ui.sampled.textContent = state.sampleBatches > 0 ? `sampled at step ${state.sampledAt.toLocaleString('en-US')}:` : 'names appear here as it trains';
  }

  function onReport(report: NamesReport): void {
    switch (report.type) {
      case 'ready':
        Object.assign(state, { worker: report.description, parameters: report.parameters });
        showArchitecture();
        break;
      case 'progress': {
        const epoch = (report.steps * NAMES_BATCH * NAMES_GPT.blockSize) / state.trainTokens;
        Object.assign(state, { steps: report.steps, epoch, lr: report.lr, tokensPerSecond: report.tokensPerSecond });
        const point: CurvePoint = { epoch };
        if (Number.isFinite(report.trainLoss)) point.loss = state.trainLoss = report.trainLoss;
        if (report.heldOutLoss !== undefined) {
          point.heldOutLoss = state.heldOutLoss = report.heldOutLoss;
          state.heldOut.push({ steps: report.steps, loss: report.heldOutLoss });
        }
        curve.push(point);
        if (curve.length > CURVE_POINTS) curve = curve.filter((kept, i, all) => i % 2 === 0 || i === all.length - 1 || kept.heldOutLoss !== undefined);
        redraw();
        break;
      }
      case 'names':
        Object.assign(state, {
          samples: report.names.map((name) => ({ name, source: sources.get(name) ?? 'new' })),
          sampledAt: report.steps, sampleBatches: state.sampleBatches + 1,
        });
        showSamples();
        break;
      case 'stopped':
        settle();
        break;
      case 'error':
        showError(new Error(`the Names GPT worker: ${report.message}`));
        endWorker();
        break;
    }
    showStatus();
  }

  // Training is over for now: Stop's wait ends and the buttons follow.
  function settle(): void {
    state.training = false;
    stopped?.();
    stopped = undefined;
    updateButtons();
  }

  function endWorker(): void {
    worker?.terminate();
    worker = undefined;
    settle();
  }

  function post(request: NamesRequest): void {
    worker!.postMessage(request);
  }

  async function prepare(): Promise<void> {
    const response = await fetch('/names.json');
    if (!response.ok) throw new Error(`/names.json: ${response.status} ${response.statusText}`);
    task = namesTask(await response.json() as string[]);
    sources = new Map([...task.heldOut.map((name) => [name, 'held-out'] as const), ...task.train.map((name) => [name, 'training'] as const)]);
    Object.assign(state, {
      trainNames: task.train.length, heldOutNames: task.heldOut.length, trainTokens: task.trainStream.length,
      vocabSize: task.tokenizer.vocabSize, bigram: task.bigram, ready: true,
    });
    ui.bigram.textContent = task.bigram.toFixed(3);
    showArchitecture();
    showSamples();
    showStatus();
    redraw();
    updateButtons();
  }

  function startTraining(): void {
    if (!task || state.training) return;
    if (!worker) {
      worker = new Worker(new URL('/names-worker.js', location.href), { type: 'module' });
      worker.onmessage = (event: MessageEvent<NamesReport>) => onReport(event.data);
      worker.onerror = (event) => {
        showError(new Error(`the Names GPT worker: ${event.message || 'it failed to start'}`));
        endWorker();
      };
      // Copies of the streams go (the page keeps its own for a reset).
      post({ type: 'start', wasmUrl: '/build/', tokenizer: task.tokenizer.toJSON(), trainStream: task.trainStream, heldOut: task.heldOutWindows });
    }
    post({ type: 'train' });
    state.training = true;
    updateButtons();
    showStatus();
  }

  async function stopTraining(): Promise<void> {
    if (!state.training) return;
    const done = new Promise<void>((resolve) => (stopped = resolve));
    post({ type: 'stop' });
    await done;
  }

  function reset(): void {
    endWorker();
    curve = [];
    Object.assign(state, fresh());
    showArchitecture();
    showSamples();
    showStatus();
    redraw();
  }

  ui.train.addEventListener('click', () => enqueue(startTraining));
  ui.stop.addEventListener('click', () => enqueue(stopTraining));
  ui.reset.addEventListener('click', () => enqueue(reset));

  return {
    state,
    start() {
      enqueue(prepare);
    },
    shown() {
      if (ui.curve.width !== Math.round(ui.curve.clientWidth * (window.devicePixelRatio || 1))) matchDevicePixels(ui.curve);
      redraw();
    },
  };
}
