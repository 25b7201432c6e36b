// Timing one workload: an untimed first call (JIT warm-up, first-call allocation, and a probe of how
// slow a call is) unless the call is known to be slow, then benchmark.js samples — or, for a slow
// call, a few calls timed one by one — reduced to median, min and max.
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

// A call too slow for minSamples samples within maxTime (the js GEMMs at n = 1024 take seconds) gets
// SLOW_SAMPLES calls, each timed on its own: benchmark.js would add two calibration calls to them,
// and a call that long needs no calibration against the clock's resolution.
const SLOW_SAMPLES = 3;

export function median(sorted: readonly number[]): number {
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function summarize(name: string, samples: readonly number[]): Timing {
  const sorted = samples.slice().sort((x, y) => x - y);
  if (sorted.length === 0) throw new Error(`benchmark ${name} collected no samples`);
  return { median: median(sorted), min: sorted[0], max: sorted[sorted.length - 1], samples: sorted.length };
}

/**
 * Times `fn` (one call = one unit of work); `fn` must do only the work being measured. `estimate`,
 * seconds per call known from elsewhere (e.g. the same product at half the size), spares a slow
 * call the probe: where it says the call is fast, the probe runs anyway.
 */
export function timeCall(name: string, fn: () => void, budget: Budget, estimate?: number): Timing {
  let secondsPerCall = estimate;
  if (secondsPerCall === undefined || secondsPerCall * budget.minSamples <= budget.maxTime) {
    const probeStart = performance.now();
    fn();
    secondsPerCall = (performance.now() - probeStart) / 1000;
  }
  if (secondsPerCall * budget.minSamples > budget.maxTime) {
    const samples: number[] = [];
    for (let i = 0; i < Math.min(SLOW_SAMPLES, budget.minSamples); i++) {
      const start = performance.now();
      fn();
      samples.push((performance.now() - start) / 1000);
    }
    return summarize(name, samples);
  }
  // No setup/teardown: with either, benchmark.js recompiles fn from its source text, losing its closure.
  const bench = new Benchmark(name, fn, { async: false, maxTime: budget.maxTime, minSamples: budget.minSamples });
  bench.run();
  if (bench.error) throw bench.error;
  return summarize(name, bench.stats.sample as number[]);
}
