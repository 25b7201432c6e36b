// Turning timings into rows (values in the row's unit) and printing them: a markdown table for
// people, or one JSON line per backend per row for scripts.
import type { Timing } from './measure.js';

/** One backend's result in the row's unit; min and max are the extreme samples. */
export interface Measured {
  median: number;
  min: number;
  max: number;
  samples: number;
}

export interface Row {
  workload: string;
  unit: string;
  wasm: Measured;
  js: Measured;
}

/** `work` units per second (GFLOP/s, samples/s): the slowest sample gives the min. */
export function perSecond(timing: Timing, workPerCall: number): Measured {
  return {
    median: workPerCall / timing.median,
    min: workPerCall / timing.max,
    max: workPerCall / timing.min,
    samples: timing.samples,
  };
}

/** Milliseconds per call. */
export function milliseconds(timing: Timing): Measured {
  return { median: 1000 * timing.median, min: 1000 * timing.min, max: 1000 * timing.max, samples: timing.samples };
}

/** Three significant digits or more, thousands grouped. */
export function formatValue(value: number): string {
  const decimals = value >= 100 ? 0 : value >= 10 ? 1 : value >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

export function jsonLines(row: Row): string[] {
  return (['wasm', 'js'] as const).map((backend) => {
    const { median, min, max } = row[backend];
    return JSON.stringify({ workload: row.workload, backend, threads: 1, median, min, max, unit: row.unit });
  });
}

export function table(rows: readonly Row[]): string {
  const header = ['workload', 'wasm median', 'js median', 'unit', 'wasm/js', 'wasm min–max', 'samples wasm/js'];
  const right = [false, true, true, false, true, true, true];
  const cells = rows.map((row) => [
    row.workload,
    formatValue(row.wasm.median),
    formatValue(row.js.median),
    row.unit,
    `${(row.wasm.median / row.js.median).toFixed(2)}×`,
    `${formatValue(row.wasm.min)}–${formatValue(row.wasm.max)}`,
    `${row.wasm.samples}/${row.js.samples}`,
  ]);
  const widths = header.map((title, c) => Math.max(title.length, ...cells.map((line) => line[c].length)));
  const line = (values: string[]): string =>
    `| ${values.map((value, c) => (right[c] ? value.padStart(widths[c]) : value.padEnd(widths[c]))).join(' | ')} |`;
  const rule = `|${widths.map((width, c) => (right[c] ? `${'-'.repeat(width + 1)}:` : `${'-'.repeat(width + 2)}`)).join('|')}|`;
  return [line(header), rule, ...cells.map(line)].join('\n');
}
