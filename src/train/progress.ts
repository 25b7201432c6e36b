// fit()'s progress report: on a terminal, a Keras-like bar redrawn in place during each epoch (rows
// done, ETA, samples/s, running loss); elsewhere, one plain line per epoch.
import type { Callback, EpochLogs } from './callbacks.js';

interface Output {
  tty: boolean;
  write(text: string): void;
}

function defaultOutput(): Output {
  const stdout = typeof process === 'object' ? process.stdout : undefined;
  if (stdout && typeof stdout.write === 'function') return { tty: stdout.isTTY === true, write: (text) => void stdout.write(text) };
  return { tty: false, write: (text) => console.log(text.replace(/\n$/, '')) };
}

const BAR_WIDTH = 24;
const REDRAW_EVERY_MS = 100;

function formatLogs(logs: Readonly<EpochLogs>): string {
  return Object.entries(logs).map(([name, value]) => `${name} ${Math.abs(value) >= 1e-3 || value === 0 ? value.toFixed(4) : value.toExponential(3)}`).join('  ');
}

function seconds(ms: number): string {
  if (ms >= 60_000) return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${ms.toFixed(ms >= 10 ? 0 : 2)}ms`;
}

/**
 * verbose 1: the bar on a terminal, a line per epoch elsewhere; verbose 2: a line per epoch always.
 * `every`: print only every this many epochs (and the last).
 */
export function progress(verbose: 1 | 2, rowsPerEpoch: number, every = 1, output: Output = defaultOutput()): Callback {
  const live = verbose === 1 && output.tty;
  let epochStart = 0;
  let lastDraw = 0;
  let rows = 0;
  let lossSum = 0;
  let epochs = 0;
  const label = (epoch: number): string => `Epoch ${String(epoch + 1).padStart(String(epochs).length)}/${epochs}`;
  let current = 0;
  return {
    onTrainBegin(context) {
      epochs = context.epochs;
    },
    onEpochBegin(epoch) {
      current = epoch;
      epochStart = performance.now();
      lastDraw = 0;
      rows = 0;
      lossSum = 0;
    },
    onBatchEnd(_batch, logs) {
      rows += logs.rows;
      lossSum += logs.loss * logs.rows;
      if (!live) return;
      const now = performance.now();
      if (now - lastDraw < REDRAW_EVERY_MS) return;
      lastDraw = now;
      const done = Math.round((BAR_WIDTH * rows) / rowsPerEpoch);
      const bar = '='.repeat(Math.max(0, done - 1)) + (done > 0 ? '>' : '') + '.'.repeat(BAR_WIDTH - done);
      const elapsed = now - epochStart;
      const rate = rows / Math.max(elapsed, 1e-3) * 1000;
      const eta = (rowsPerEpoch - rows) / Math.max(rate, 1e-9) * 1000;
      output.write(`\r${label(current)} [${bar}] ${rows}/${rowsPerEpoch}  ETA ${seconds(eta)}  ${Math.round(rate)} samples/s  loss ${(lossSum / rows).toFixed(4)}\x1b[K`);
    },
    onEpochEnd(epoch, logs) {
      if ((epoch + 1) % every !== 0 && epoch + 1 !== epochs) {
        if (live) output.write('\r\x1b[K');
        return;
      }
      const elapsed = performance.now() - epochStart;
      const rate = Math.round(rows / Math.max(elapsed, 1e-3) * 1000);
      output.write(`${live ? '\r' : ''}${label(epoch)}  ${seconds(elapsed)}  ${rate} samples/s  ${formatLogs(logs)}${live ? '\x1b[K' : ''}\n`);
    },
  };
}
