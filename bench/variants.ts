// simdprop against itself: the baseline SIMD128 build and the relaxed-SIMD build (fused multiply-add),
// each on one thread and on two, for the large products and the training workloads — the figures the
// speed targets are stated in (and 2 threads against 1, timed in alternating pairs in one process).
import { getBackend, init, type Backend } from '../src/index.js';
import { gemmFlops, gemmValues, GEMM_KERNELS, GEMM_PRODUCTS, prepareSimdprop } from './gemm.js';
import { interleaved, median, summarize } from './measure.js';
import { formatValue, markdown, type Measured } from './report.js';
import {
  checkLearns, itemsPerStep, itemUnit, simdpropTrainer, trainingCall, trainingData, TRAINING_WORKLOADS,
} from './training.js';

export interface Variant {
  relaxed: boolean;
  threads: number;
  /** e.g. "simd128, 2 threads". */
  title: string;
}

/** A multi-thread variant's speed over its build's 1 thread: per pair, its rate over the 1-thread rate. */
export interface PairedRatio {
  median: number;
  min: number;
  max: number;
  pairs: number;
}

export interface VariantRow {
  workload: string;
  unit: string;
  lowerIsBetter: boolean;
  /** Per variant: the median, min and max of its halves of the pairs, in the row's unit. */
  cells: (Measured | undefined)[];
  /** Per multi-thread variant: its pairs' ratios over the same build's 1 thread. */
  ratios: (PairedRatio | undefined)[];
}

/** The builds and thread counts this runtime can run (relaxed only where it validates). */
export async function availableVariants(): Promise<{ variants: Variant[]; notes: string[] }> {
  const variants: Variant[] = [];
  const notes: string[] = [];
  for (const relaxed of [false, true]) {
    for (const threads of [1, 2]) {
      try {
        const report = await init({ backend: 'wasm', threads, relaxed });
        if (report.threads !== threads) {
          notes.push(`${threads} threads unavailable: ${report.reason}`);
          continue;
        }
        variants.push({ relaxed, threads, title: `${relaxed ? 'relaxed' : 'simd128'}, ${threads} thread${threads === 1 ? '' : 's'}` });
      } catch (error) {
        notes.push(`${relaxed ? 'relaxed SIMD' : 'SIMD128'} on ${threads} thread(s) unavailable: ${(error as Error).message}`);
      }
    }
  }
  return { variants, notes };
}

/**
 * Seconds each half of a pair runs for, about (one call where a call takes longer): about one
 * 1-thread GEMM at n = 1024, and short enough that load coming and going over seconds falls on both halves.
 */
export const HALF_SECONDS = 0.05;
// Steps on one batch whose loss must fall before a trainer is timed.
const LEARNING_CHECK_STEPS = 3;

/** One row's work, made once on each variant's backend. */
interface VariantWork {
  name: string;
  unit: string;
  /** Units of `unit` per call (GFLOP, samples, tokens). */
  workPerCall: number;
  /** The timed call on `backend`, the default wasm backend when it is made (models capture it). */
  make(backend: Backend): MadeWork;
}

interface MadeWork {
  call: () => void;
  /** Throws unless the work is fit to time (a trainer's loss falls). */
  check(what: string): void;
  dispose(): void;
}

function gemmWork(kernel: (typeof GEMM_KERNELS)[number], n: number): VariantWork {
  const values = gemmValues(n, 0x6e6d + n);
  return {
    name: `${kernel} ${GEMM_PRODUCTS[kernel]} n=${n}`,
    unit: 'GFLOP/s',
    workPerCall: gemmFlops(n) / 1e9,
    make(backend) {
      const prepared = prepareSimdprop(backend, kernel, values);
      return { call: () => prepared.call(), check: () => {}, dispose: () => prepared.dispose() };
    },
  };
}

function trainingWork(workload: (typeof TRAINING_WORKLOADS)[number]): VariantWork {
  const data = trainingData(workload);
  return {
    name: workload.name,
    unit: itemUnit(workload),
    workPerCall: itemsPerStep(workload),
    make() {
      const trainer = simdpropTrainer(workload, data, 'wasm');
      return {
        call: trainingCall(workload, trainer).call,
        check: (what) => void checkLearns(trainer, LEARNING_CHECK_STEPS, what),
        dispose: () => trainer.dispose(),
      };
    },
  };
}

/** The large products and every one-step training workload (the toy measures overhead, not threads). */
function variantWorks(sizes: readonly number[]): VariantWork[] {
  return [
    ...GEMM_KERNELS.flatMap((kernel) => sizes.map((n) => gemmWork(kernel, n))),
    ...TRAINING_WORKLOADS.filter((workload) => workload.stepsPerCall === 1).map(trainingWork),
  ];
}

/** The variants' indices grouped by build (SIMD128, relaxed), fewest threads first: each group is timed together. */
function builds(variants: readonly Variant[]): number[][] {
  return [false, true]
    .map((relaxed) => variants.flatMap((variant, v) => (variant.relaxed === relaxed ? [v] : [])))
    .map((build) => build.sort((x, y) => variants[x].threads - variants[y].threads))
    .filter((build) => build.length > 0);
}

/**
 * Every work made on each of `build`'s variants, each on a wasm backend of its own, all live at once.
 * init makes each backend the default (a model captures the default when it is made) and closes the
 * one before: a 1-thread backend's close does nothing, so what was made on it keeps running on it,
 * but a pool's close stops its workers, so only the build's last variant may have more than 1 thread.
 * That last pool is closed by the next build's init.
 */
async function makeOnEach(build: readonly Variant[], works: readonly VariantWork[]): Promise<MadeWork[][]> {
  const made: MadeWork[][] = [];
  for (const [m, variant] of build.entries()) {
    if (variant.threads > 1 && m < build.length - 1) throw new Error(`bench: ${variant.title} must be its build's last variant`);
    await init({ backend: 'wasm', threads: variant.threads, relaxed: variant.relaxed });
    const backend = getBackend('wasm');
    if (backend.threads !== variant.threads) throw new Error(`bench: init gave ${backend.threads} threads for ${variant.title}`);
    made.push(works.map((work) => work.make(backend)));
  }
  return made;
}

/**
 * The build's variants' calls of one work, timed in `pairs` rounds of HALF_SECONDS turns, fewest
 * threads first: each variant's median, min and max over its turns, and each multi-thread variant's
 * ratios over the 1-thread turn of the same round.
 */
function timeTogether(work: VariantWork, calls: readonly (() => void)[], threads: readonly number[], pairs: number):
  { cells: Measured[]; ratios: (PairedRatio | undefined)[] } {
  const rates = interleaved(calls, pairs, HALF_SECONDS).map((perRound) => perRound.map((rate) => rate * work.workPerCall));
  const cells = rates.map((perRound) => summarize(work.name, perRound));
  const ratios = rates.map((perRound, m) => {
    if (threads[0] !== 1 || threads[m] === 1) return undefined;
    const sorted = perRound.map((rate, round) => rate / rates[0][round]).sort((x, y) => x - y);
    return { median: median(sorted), min: sorted[0], max: sorted[sorted.length - 1], pairs: sorted.length };
  });
  return { cells, ratios };
}

/**
 * Measures each workload on each variant. Per build, the 1- and 2-thread figures of a workload are
 * taken in alternating pairs in one process (a shared host's speed drifts by up to 1.7× over
 * minutes, which made figures taken minutes apart mostly noise). Leaves the default backend as the
 * bench began it: SIMD128 on 1 thread, every pool closed.
 */
export async function measureVariants(
  variants: readonly Variant[], sizes: readonly number[], pairs: number,
  report: (workload: string, variant: Variant, measured: Measured, unit: string, ratio?: PairedRatio) => void,
): Promise<VariantRow[]> {
  const works = variantWorks(sizes);
  const rows: VariantRow[] = works.map((work) => ({ workload: work.name, unit: work.unit, lowerIsBetter: false, cells: [], ratios: [] }));
  for (const build of builds(variants)) {
    const members = build.map((v) => variants[v]);
    const made = await makeOnEach(members, works);
    // Checked once all are made: the 1-thread models still train after init replaced their backend.
    made.forEach((onVariant, m) => onVariant.forEach((work, w) => work.check(`${works[w].name} ${members[m].title}`)));
    for (const [w, work] of works.entries()) {
      const calls = made.map((onVariant) => onVariant[w].call);
      const { cells, ratios } = timeTogether(work, calls, members.map((variant) => variant.threads), pairs);
      for (const [m, v] of build.entries()) {
        rows[w].cells[v] = cells[m];
        rows[w].ratios[v] = ratios[m];
        report(work.name, variants[v], cells[m], work.unit, ratios[m]);
      }
      for (const onVariant of made) onVariant[w].dispose();
    }
  }
  await init({ backend: 'wasm', threads: 1, relaxed: false });
  return rows;
}

/** The table: each variant's median, and for 2 threads its pairs' ratios over the same build on 1 (median, min–max). */
export function variantTable(rows: readonly VariantRow[], variants: readonly Variant[]): string {
  const header = ['workload', 'unit'];
  const right = [false, false];
  for (const variant of variants) {
    header.push(variant.title);
    right.push(true);
    if (variant.threads > 1) {
      header.push('× 1 thread');
      right.push(true);
    }
  }
  const cells = rows.map((row) => {
    const line = [row.workload, row.unit];
    variants.forEach((variant, v) => {
      const cell = row.cells[v];
      line.push(cell ? formatValue(cell.median) : '—');
      if (variant.threads > 1) {
        const ratio = row.ratios[v];
        line.push(ratio ? `${ratio.median.toFixed(2)}× (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})` : '—');
      }
    });
    return line;
  });
  return markdown(header, right, cells);
}

