// simdprop against itself: the baseline SIMD128 build and the relaxed-SIMD build (fused multiply-add),
// each on one thread and on two, for the large products and the training workloads — the figures the
// speed targets are stated in (and 2 threads against 1).
import { getBackend, init } from '../src/index.js';
import { gemmFlops, gemmValues, GEMM_KERNELS, GEMM_PRODUCTS, prepareSimdprop } from './gemm.js';
import { timeCall, type Budget } from './measure.js';
import { formatValue, markdown, perSecond, type Measured } from './report.js';
import {
  checkLearns, itemsPerStep, itemUnit, simdpropTrainer, trainingCall, trainingData, TRAINING_WORKLOADS, type TrainingWorkload,
} from './training.js';

export interface Variant {
  relaxed: boolean;
  threads: number;
  /** e.g. "simd128, 2 threads". */
  title: string;
}

export interface VariantRow {
  workload: string;
  unit: string;
  lowerIsBetter: boolean;
  cells: (Measured | undefined)[];
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

/** Measures each workload on each variant; the wasm backend is re-made per variant (init). */
export async function measureVariants(
  variants: readonly Variant[], sizes: readonly number[], gemmBudget: Budget, trainBudget: Budget,
  report: (workload: string, variant: Variant, measured: Measured, unit: string) => void,
): Promise<VariantRow[]> {
  const rows: VariantRow[] = [];
  for (const kernel of GEMM_KERNELS) {
    for (const n of sizes) rows.push({ workload: `${kernel} ${GEMM_PRODUCTS[kernel]} n=${n}`, unit: 'GFLOP/s', lowerIsBetter: false, cells: [] });
  }
  const workloads: TrainingWorkload[] = TRAINING_WORKLOADS.filter((workload) => workload.stepsPerCall === 1);
  for (const workload of workloads) rows.push({ workload: workload.name, unit: itemUnit(workload), lowerIsBetter: false, cells: [] });
  for (const [v, variant] of variants.entries()) {
    await init({ backend: 'wasm', threads: variant.threads, relaxed: variant.relaxed });
    const backend = getBackend('wasm');
    let row = 0;
    for (const kernel of GEMM_KERNELS) {
      for (const n of sizes) {
        const prepared = prepareSimdprop(backend, kernel, gemmValues(n, 0x6e6d + n));
        const measured = perSecond(timeCall(`${rows[row].workload} ${variant.title}`, () => prepared.call(), gemmBudget), gemmFlops(n) / 1e9);
        prepared.dispose();
        rows[row++].cells[v] = measured;
        report(rows[row - 1].workload, variant, measured, 'GFLOP/s');
      }
    }
    for (const workload of workloads) {
      const data = trainingData(workload);
      const trainer = simdpropTrainer(workload, data, 'wasm');
      const secondsPerStep = checkLearns(trainer, 3, `${workload.name} ${variant.title}`);
      const { call } = trainingCall(workload, trainer);
      const measured = perSecond(timeCall(`${workload.name} ${variant.title}`, call, trainBudget, secondsPerStep), itemsPerStep(workload));
      trainer.dispose();
      rows[row++].cells[v] = measured;
      report(workload.name, variant, measured, itemUnit(workload));
    }
  }
  return rows;
}

/** The table: each variant's median, and for 2 threads its speed-up over the same build on 1. */
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
        const alone = variants.findIndex((other) => other.relaxed === variant.relaxed && other.threads === 1);
        const base = row.cells[alone];
        line.push(cell && base ? `${(cell.median / base.median).toFixed(2)}×` : '—');
      }
    });
    return line;
  });
  return markdown(header, right, cells);
}

