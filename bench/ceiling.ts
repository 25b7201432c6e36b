// The measured ceiling: bench/ceiling/peak.ts (AssemblyScript) compiled with asc into
// build/ceiling-{simd128,relaxed}.wasm, then timed in interleaved rounds; the fastest register tile
// is the ceiling, and is timed again in alternating pairs with simdprop's calls. The kernels'
// operands sit in the module's own memory at fixed byte offsets.
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { interleaved, median, secondsFor } from './measure.js';
import type { Measured } from './report.js';

export type CeilingKind = 'simd128' | 'relaxed';

/** How each build multiplies and adds, for the report. */
export const CEILING_OPS: Record<CeilingKind, string> = {
  simd128: 'f32x4.mul + f32x4.add',
  relaxed: 'f32x4.relaxed_madd',
};

export const RELAXED_UNAVAILABLE =
  'relaxed SIMD: not available in this runtime (node --experimental-wasm-relaxed-simd enables it)';

/** The register tiles of bench/ceiling/peak.ts: rows splatted × vectors loaded per step. */
export interface CeilingShape {
  name: string;
  rows: number;
  vectors: number;
  /**
   * The splats are held in registers, not loaded each step: the multiply and add pipes' own bound,
   * timed beside the tiles but never the ceiling (a GEMM must load new elements of A every step).
   */
  held?: boolean;
}

export const CEILING_SHAPES: readonly CeilingShape[] = [
  { name: '1x12', rows: 1, vectors: 12 },
  { name: '3x4', rows: 3, vectors: 4 },
  { name: '4x2', rows: 4, vectors: 2 },
  { name: '2x4', rows: 2, vectors: 4 },
  { name: '4x2_held', rows: 4, vectors: 2, held: true },
];

// At most 64 steps of 4 floats of a and 12 vectors of b (13 KiB): L1-resident, so the loops measure
// arithmetic, not memory.
const DEPTH = 64;
const A_OFFSET = 1024;
const B_OFFSET = 4096;
// 1–3 ms per call: long enough that call overhead vanishes.
const REPEATS = 10_000;
// Calls before timing, so V8 has tiered each function up to its optimizing compiler.
const WARM_UP_CALLS = 20;
// Calls per sample of measureTiles: some 5 ms.
const SAMPLE_CALLS = 5;

const root = new URL('../', import.meta.url);

/**
 * Compiles bench/ceiling/peak.ts once per kind with asc (bench/ceiling/asconfig.json has a target
 * for each) unless its .wasm is newer than the source and the config; throws on any error.
 */
export async function compileCeilings(): Promise<void> {
  const source = new URL('bench/ceiling/peak.ts', root);
  const config = new URL('bench/ceiling/asconfig.json', root);
  for (const kind of ['simd128', 'relaxed'] as const) {
    const output = new URL(`build/ceiling-${kind}.wasm`, root);
    const built = await stat(output).catch(() => undefined);
    const inputs = await Promise.all([stat(source), stat(config)]);
    if (built && inputs.every((input) => input.mtimeMs <= built.mtimeMs)) continue;
    // Imported only when needed: loading the compiler and its optimizer takes seconds.
    const { default: asc } = await import('assemblyscript/asc');
    let diagnostics = '';
    const sink = { write: (text: string | Uint8Array): void => void (diagnostics += text.toString()) };
    const { error } = await asc.main(
      [fileURLToPath(source), '--config', fileURLToPath(config), '--target', kind],
      { stdout: sink, stderr: sink },
    );
    if (error) throw new Error(`bench: compiling bench/ceiling/peak.ts (${kind}) failed: ${error.message}\n${diagnostics}`);
  }
}

/** One build of the ceiling kernels, ready to time, as often as needed. */
export interface Ceiling {
  kind: CeilingKind;
  /**
   * GFLOP/s of each shape's kernel, timed in `rounds` rounds that each run every shape once in turn
   * (SAMPLE_CALLS calls): a neighbour's load then falls on all shapes alike, and the fastest is
   * picked fairly on a busy host.
   */
  measureTiles(shapes: readonly CeilingShape[], rounds: number): Measured[];
  /** `work` (flopsPerCall FLOPs a call) against one shape's kernel, timed in alternating pairs. */
  paired(shape: CeilingShape, work: () => void, flopsPerCall: number, pairs: number): Paired;
  /**
   * The core's clock in GHz while it runs wasm, from add_chain: dependent i32 additions, one a cycle,
   * timed `samples` times after a warm-up. A shared host's neighbours slow the chain as they slow
   * everything, so read the maximum as the clock and the median as this run's.
   */
  clock(samples: number): Measured;
}

/**
 * A workload's speed as a fraction of the ceiling's, timed in pairs: the ceiling's kernel for about
 * PAIR_SECONDS, then the workload for about as long, `pairs` times. A neighbour's load that comes
 * and goes over seconds slows both halves of a pair alike, so the ratio of each pair holds where
 * two figures measured minutes apart do not.
 */
export interface Paired {
  /** Per pair, the workload's GFLOP/s over the ceiling's, sorted. */
  ratios: number[];
  /** The median of ratios. */
  median: number;
  /** The ceiling's GFLOP/s in the pairs, median. */
  ceiling: number;
}

/** Seconds each half of a pair runs for, at least (one call where a call takes longer). */
const PAIR_SECONDS = 0.004;

// Steps of 32 dependent additions per call of add_chain: some 10 ms at 3 GHz.
const CHAIN_STEPS = 1_000_000;

/**
 * Loads one build of the ceiling kernels, or returns undefined when this runtime does not validate
 * it (relaxed SIMD on Node 20 without its flag).
 */
export async function loadCeiling(kind: CeilingKind): Promise<Ceiling | undefined> {
  const bytes = await readFile(new URL(`build/ceiling-${kind}.wasm`, root));
  if (!WebAssembly.validate(bytes)) return undefined;
  const { instance } = await WebAssembly.instantiate(bytes);
  const memory = instance.exports.memory as WebAssembly.Memory;
  // Small normal values: the sums stay far from overflow and from denormals, which would be slow.
  const floats = new Float32Array(memory.buffer);
  for (let i = 0; i < DEPTH * 4; i++) floats[(A_OFFSET >> 2) + i] = 1e-3 * (1 + (i % 7));
  for (let i = 0; i < DEPTH * 12 * 4; i++) floats[(B_OFFSET >> 2) + i] = 1e-2 * (1 + (i % 5));
  const calls = new Map(CEILING_SHAPES.map((shape) => {
    const kernel = instance.exports[`madd_${shape.name}`] as (a: number, b: number, depth: number, repeats: number) => number;
    let checksum = 0;
    const call = (): void => {
      checksum += kernel(A_OFFSET, B_OFFSET, DEPTH, REPEATS);
    };
    for (let i = 0; i < WARM_UP_CALLS; i++) call();
    return [shape, { call, checksum: () => checksum }] as const;
  }));
  return {
    kind,
    measureTiles(shapes: readonly CeilingShape[], rounds: number): Measured[] {
      const rates = shapes.map((): number[] => []);
      for (let round = 0; round < rounds; round++) {
        shapes.forEach((shape, index) => {
          const { call } = calls.get(shape) as { call: () => void };
          rates[index].push((SAMPLE_CALLS * ceilingFlops(shape)) / (secondsFor(call, SAMPLE_CALLS) * 1e9));
        });
      }
      return shapes.map((shape, index) => {
        const checksum = (calls.get(shape) as { checksum: () => number }).checksum();
        if (!Number.isFinite(checksum)) throw new Error(`bench: the ${kind} ${shape.name} ceiling kernel returned ${checksum}`);
        const sorted = rates[index].sort((x, y) => x - y);
        return { median: median(sorted), min: sorted[0], max: sorted[sorted.length - 1], samples: sorted.length };
      });
    },
    paired(shape: CeilingShape, work: () => void, flopsPerCall: number, pairs: number): Paired {
      const { call, checksum } = calls.get(shape) as { call: () => void; checksum: () => number };
      const [ceilingRates, workRates] = interleaved([call, work], pairs, PAIR_SECONDS);
      const ratios = workRates.map((rate, pair) => (rate * flopsPerCall) / (ceilingRates[pair] * ceilingFlops(shape)));
      const ceilings = ceilingRates.map((rate) => (rate * ceilingFlops(shape)) / 1e9);
      if (!Number.isFinite(checksum())) throw new Error(`bench: the ${kind} ${shape.name} ceiling kernel returned ${checksum()}`);
      ratios.sort((x, y) => x - y);
      ceilings.sort((x, y) => x - y);
      return { ratios, median: median(ratios), ceiling: median(ceilings) };
    },
    clock(samples: number): Measured {
      const chain = instance.exports.add_chain as (steps: number, y: number) => number;
      let checksum = 0;
      for (let i = 0; i < 3; i++) checksum += chain(CHAIN_STEPS / 10, i);
      const rates: number[] = [];
      for (let sample = 0; sample < samples; sample++) {
        const seconds = secondsFor(() => void (checksum += chain(CHAIN_STEPS, sample)), 1);
        rates.push((CHAIN_STEPS * 32) / (seconds * 1e9));
      }
      if (!Number.isFinite(checksum)) throw new Error(`bench: the ${kind} clock chain returned ${checksum}`);
      rates.sort((x, y) => x - y);
      return { median: median(rates), min: rates[0], max: rates[rates.length - 1], samples };
    },
  };
}

/** FLOPs of one call of a ceiling kernel. */
function ceilingFlops(shape: CeilingShape): number {
  return REPEATS * DEPTH * shape.rows * shape.vectors * 4 * 2;
}

/** What two threads at once give compared with one, on the ceiling's own register-bound loop. */
export interface TwoThreadCeiling {
  /** Work per second on two threads over one, per round, sorted. */
  ratios: number[];
  median: number;
}

// A worker that instantiates the ceiling build itself and runs the tile `calls` times per request.
const CEILING_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
WebAssembly.instantiate(workerData.bytes).then(({ instance }) => {
  const kernel = instance.exports['madd_' + workerData.shape];
  parentPort.on('message', (calls) => {
    let sum = 0;
    for (let i = 0; i < calls; i++) sum += kernel(workerData.a, workerData.b, workerData.depth, workerData.repeats);
    parentPort.postMessage(sum);
  });
  parentPort.postMessage('ready');
});
`;

/**
 * The machine's two-thread ceiling: the simd128 build's `shape` tile timed on this thread alone, then
 * on this thread and a worker at once (each its own module and memory, nothing shared), `rounds`
 * times alternating. On a machine whose two vCPUs were two idle cores this is 2.0; a shared host
 * gives less, and no threaded workload can scale beyond it.
 */
export async function measureTwoThreadCeiling(shape: CeilingShape, rounds: number): Promise<TwoThreadCeiling> {
  const { Worker } = await import('node:worker_threads');
  const bytes = await readFile(new URL('build/ceiling-simd128.wasm', root));
  const { instance } = await WebAssembly.instantiate(bytes);
  const kernel = instance.exports[`madd_${shape.name}`] as (a: number, b: number, depth: number, repeats: number) => number;
  const calls = 10;
  const run = (): number => {
    const start = performance.now();
    for (let i = 0; i < calls; i++) kernel(A_OFFSET, B_OFFSET, DEPTH, REPEATS);
    return performance.now() - start;
  };
  const worker = new Worker(CEILING_WORKER, {
    eval: true,
    workerData: { bytes, shape: shape.name, a: A_OFFSET, b: B_OFFSET, depth: DEPTH, repeats: REPEATS },
  });
  const reply = (): Promise<unknown> => new Promise((resolve) => worker.once('message', resolve));
  try {
    await reply();
    worker.postMessage(calls);
    await reply();
    run();
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const alone = run();
      const start = performance.now();
      const other = reply();
      worker.postMessage(calls);
      run();
      await other;
      ratios.push((2 * alone) / (performance.now() - start));
    }
    ratios.sort((x, y) => x - y);
    return { ratios, median: ratios[ratios.length >> 1] };
  } finally {
    await worker.terminate();
  }
}
