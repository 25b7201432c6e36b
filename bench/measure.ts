// Timing one workload with benchmark.js: an untimed first call (JIT warm-up, first-call allocation,
// and a probe of how slow a call is), then benchmark.js samples, reduced to median, min and max.
import Benchmark from 'benchmark';

/** How long benchmark.js may sample one workload on one backend. */
export interface Budget {
  /** Seconds of sampling once minSamples are in (benchmark.js `maxTime`). */
  maxTime: number;
  minSamples: number;
}

/** Seconds per call of the measured function, over benchmark.js's samples. */
export interface Timing {
  median: number;
  min: number;
  max: number;
  samples: number;
}

// A call slower than this share of the budget gets only SLOW_SAMPLES samples: the js GEMM twin at
// n = 1024 takes seconds per call, and the full budget would stretch the run to many minutes.
const SLOW_SAMPLES = 3;

export function median(sorted: readonly number[]): number {
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Times `fn` (one call = one unit of work); `fn` must do only the work being measured. */
export function timeCall(name: string, fn: () => void, budget: Budget): Timing {
  const probeStart = performance.now();
  fn();
  const probeSeconds = (performance.now() - probeStart) / 1000;
  const slow = probeSeconds * budget.minSamples > budget.maxTime;
  // No setup/teardown: with either, benchmark.js recompiles fn from its source text, losing its closure.
  const bench = new Benchmark(name, fn, {
    async: false,
    maxTime: slow ? 0 : budget.maxTime,
    minSamples: slow ? Math.min(SLOW_SAMPLES, budget.minSamples) : budget.minSamples,
  });
  bench.run();
  if (bench.error) throw bench.error;
  const sorted = (bench.stats.sample as number[]).slice().sort((x, y) => x - y);
  if (sorted.length === 0) throw new Error(`benchmark ${name} collected no samples`);
  return { median: median(sorted), min: sorted[0], max: sorted[sorted.length - 1], samples: sorted.length };
}
