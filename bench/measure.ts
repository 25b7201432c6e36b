// Timing one workload: an untimed first call (JIT warm-up, first-call allocation, and a probe of how
// slow a call is) unless the call is known to be slow, then benchmark.js samples — or, for a slow
// call, a few calls timed one by one — reduced to median, min and max. Or several calls timed in
// turn, round after round (interleaved), for ratios between them that hold on a busy host.
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

/** Median, min and max of `samples`, in whatever unit they are (seconds per call, calls per second). */
export function summarize(name: string, samples: readonly number[]): Timing {
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

/** Seconds that `count` calls of fn take. */
export function secondsFor(fn: () => void, count: number): number {
  const start = performance.now();
  for (let i = 0; i < count; i++) fn();
  return (performance.now() - start) / 1000;
}

/**
 * Calls per second of each of `fns`, timed in `rounds` rounds that run each in turn for about
 * `seconds` — or, where one call of any of them takes longer, for about that long, so every turn of
 * a round lasts about as long. A neighbour's load that comes and goes over seconds slows the turns
 * of one round alike, so ratios within a round hold where figures taken minutes apart do not. Each
 * function is called once untimed (warm-up), then once timed, which sets its calls per turn.
 * Returns rates[f][round], in round order.
 */
export function interleaved(fns: readonly (() => void)[], rounds: number, seconds: number): number[][] {
  for (const fn of fns) fn();
  const perCall = fns.map((fn) => secondsFor(fn, 1));
  const turn = Math.max(seconds, ...perCall);
  const calls = perCall.map((secondsPerCall) => Math.max(1, Math.round(turn / secondsPerCall)));
  const rates = fns.map((): number[] => []);
  for (let round = 0; round < rounds; round++) {
    fns.forEach((fn, f) => rates[f].push(calls[f] / secondsFor(fn, calls[f])));
  }
  return rates;
}
