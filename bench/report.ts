// Turning timings into rows (values in the row's unit) and printing them: markdown tables for people
// (one per workload family, each peer's median followed by how many times faster simdprop-wasm is),
// or one JSON line per (workload, backend) for scripts.
import type { Timing } from './measure.js';

export const BACKENDS = ['simdprop-wasm', 'simdprop-js', 'plain-js', 'tfjs-cpu', 'tfjs-wasm'] as const;
export type BackendId = (typeof BACKENDS)[number];
/** Everything simdprop-wasm is compared against, in column order. */
export const PEERS = ['simdprop-js', 'plain-js', 'tfjs-cpu', 'tfjs-wasm'] as const satisfies readonly BackendId[];
type Peer = (typeof PEERS)[number];
const PEER_TITLES: Record<Peer, string> = {
  'simdprop-js': 'js twin',
  'plain-js': 'plain JS',
  'tfjs-cpu': 'tfjs-cpu',
  'tfjs-wasm': 'tfjs-wasm',
};

/** One backend's result in the row's unit; min and max are the extreme samples. */
export interface Measured {
  median: number;
  min: number;
  max: number;
  samples: number;
}

export interface Row {
  family: 'gemm' | 'conv' | 'training';
  workload: string;
  unit: string;
  /** The unit is time per call: smaller is faster. */
  lowerIsBetter: boolean;
  /** One measurement per backend present (a tfjs backend that is not installed has none). */
  cells: Partial<Record<BackendId, Measured>>;
  /** The ceiling in GFLOP/s, the median of its halves of the row's pairs with simdprop (GEMM, conv and classifier training rows). */
  ceiling?: number;
  /** simdprop-wasm's GEMM as a percentage of the ceiling: the median of the pairs' ratios. */
  percentOfCeiling?: number;
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

/** How many times faster simdprop-wasm is than `peer` in this row (above 1: simdprop is faster). */
export function speedup(row: Row, peer: BackendId): number | undefined {
  const ours = row.cells['simdprop-wasm'];
  const theirs = row.cells[peer];
  if (!ours || !theirs) return undefined;
  return row.lowerIsBetter ? theirs.median / ours.median : ours.median / theirs.median;
}

/** One line per backend present in the row. */
export function jsonLines(row: Row): string[] {
  return BACKENDS.filter((backend) => row.cells[backend] !== undefined).map((backend) => {
    const { median, min, max, samples } = row.cells[backend] as Measured;
    const base = { workload: row.workload, backend, threads: 1 };
    const extra = backend === 'simdprop-wasm' && row.percentOfCeiling !== undefined
      ? { percentOfCeiling: row.percentOfCeiling, ceiling: row.ceiling }
      : {};
    return JSON.stringify({ ...base, median, min, max, unit: row.unit, samples, ...extra });
  });
}

/** A JSON line for a ceiling measurement. */
export function ceilingJsonLine(workload: string, measured: Measured, unit = 'GFLOP/s'): string {
  const { median, min, max, samples } = measured;
  return JSON.stringify({ workload, backend: 'ceiling', threads: 1, median, min, max, unit, samples });
}

export function markdown(header: string[], right: boolean[], cells: string[][]): string {
  const widths = header.map((title, c) => Math.max(title.length, ...cells.map((line) => line[c].length)));
  const line = (values: string[]): string =>
    `| ${values.map((value, c) => (right[c] ? value.padStart(widths[c]) : value.padEnd(widths[c]))).join(' | ')} |`;
  const rule = `|${widths.map((width, c) => (right[c] ? `${'-'.repeat(width + 1)}:` : `${'-'.repeat(width + 2)}`)).join('|')}|`;
  return [line(header), rule, ...cells.map(line)].join('\n');
}

/**
 * One family's table: workload, (unit,) simdprop-wasm median and min–max, (% of ceiling,) then each
 * peer's median and simdprop-wasm's speedup over it. `peers` lists the columns to show.
 */
export function table(rows: readonly Row[], peers: readonly BackendId[]): string {
  const withUnit = new Set(rows.map((row) => row.unit)).size > 1;
  const withCeiling = rows.some((row) => row.percentOfCeiling !== undefined);
  const header = ['workload', ...(withUnit ? ['unit'] : []), 'simdprop-wasm', 'min–max', ...(withCeiling ? ['% ceiling'] : [])];
  const right = [false, ...(withUnit ? [false] : []), true, true, ...(withCeiling ? [true] : [])];
  for (const peer of peers) {
    header.push(PEER_TITLES[peer as Peer], '×');
    right.push(true, true);
  }
  const cells = rows.map((row) => {
    const ours = row.cells['simdprop-wasm'];
    const line = [
      row.workload,
      ...(withUnit ? [row.unit] : []),
      ours ? formatValue(ours.median) : '',
      ours ? `${formatValue(ours.min)}–${formatValue(ours.max)}` : '',
      ...(withCeiling ? [row.percentOfCeiling === undefined ? '' : `${row.percentOfCeiling.toFixed(0)}%`] : []),
    ];
    for (const peer of peers) {
      const ratio = speedup(row, peer);
      const theirs = row.cells[peer];
      line.push(theirs ? formatValue(theirs.median) : '', ratio === undefined ? '—' : `${ratio.toFixed(ratio >= 10 ? 0 : ratio >= 1 ? 1 : 2)}×`);
    }
    return line;
  });
  return markdown(header, right, cells);
}
