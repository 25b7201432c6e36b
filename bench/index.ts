// simdprop benchmark: the wasm and js backends side by side in one process, on one thread — GEMM
// kernels called directly, then trainStep throughput. `--quick` for a smoke run, `--json` for JSON lines.
import os from 'node:os';
import { getBackend, init, type BackendName } from '../src/index.js';
import { AGREEMENT, GEMM_KERNELS, checkAgreement, gemmFlops, timeGemm } from './gemm.js';
import type { Budget } from './measure.js';
import { jsonLines, milliseconds, perSecond, table, type Measured, type Row } from './report.js';
import { CLASSIFIERS, TOY_STEPS, timeClassifier, timeToy } from './training.js';

const FLAGS = ['--quick', '--json'];
const args = process.argv.slice(2);
for (const arg of args) {
  if (!FLAGS.includes(arg)) {
    console.error(`bench: unknown argument ${arg}: expected ${FLAGS.join(' and/or ')}`);
    process.exit(2);
  }
}
const quick = args.includes('--quick');
const asJson = args.includes('--json');

const SIZES = quick ? [128, 256] : [128, 256, 512, 1024];
const GEMM_BUDGET: Budget = quick ? { maxTime: 0.5, minSamples: 3 } : { maxTime: 2, minSamples: 5 };
const TRAIN_BUDGET: Budget = quick ? { maxTime: 0.5, minSamples: 3 } : { maxTime: 3, minSamples: 5 };
const BACKENDS: readonly BackendName[] = ['wasm', 'js'];

await init({ backend: 'wasm' });
const wasm = getBackend('wasm');
const js = getBackend('js');
// A benchmark of a wrong kernel is worthless: the run stops here unless both backends agree.
const disagreement = checkAgreement(wasm, js, 128);

const cpus = os.cpus();
const header = [
  `# simdprop bench — ${new Date().toISOString()}${quick ? ' (--quick)' : ''}`,
  `node ${process.version} (V8 ${process.versions.v8}) · ${cpus[0]?.model ?? 'unknown CPU'} · ${cpus.length} cores · ` +
    `1 thread · ${wasm.description} vs ${js.description}`,
  `wasm and js agree on gemm_nn, gemm_nt, gemm_tn at n=128: max|wasm − js| / max|js| = ${disagreement.toExponential(1)} (limit ${AGREEMENT})`,
];
// stdout carries only the table, or only JSON lines; the header and progress go to stderr with --json.
console[asJson ? 'error' : 'log'](`${header.join('\n')}\n`);

const rows: Row[] = [];

/** Measures one workload on both backends, wasm first, and reports it as it completes. */
function measureRow(workload: string, unit: string, measure: (backend: BackendName) => Measured): void {
  const [wasmResult, jsResult] = BACKENDS.map(measure);
  const row = { workload, unit, wasm: wasmResult, js: jsResult };
  rows.push(row);
  if (asJson) for (const line of jsonLines(row)) console.log(line);
  console.error(`${workload}: wasm ${wasmResult.median.toPrecision(4)}, js ${jsResult.median.toPrecision(4)} ${unit}`);
}

/** Results are read back and checked, so neither V8 nor a broken kernel can make the work vanish. */
function requireFinite(value: number, what: string): void {
  if (!Number.isFinite(value)) console.error(`warning: ${what} is ${value}: this row timed non-finite arithmetic`);
}

for (const kernel of GEMM_KERNELS) {
  for (const n of SIZES) {
    measureRow(`${kernel} n=${n}`, 'GFLOP/s', (backend) => {
      const { timing, checksum } = timeGemm(getBackend(backend), kernel, n, GEMM_BUDGET);
      requireFinite(checksum, `${kernel} n=${n} ${backend} output`);
      return perSecond(timing, gemmFlops(n) / 1e9);
    });
  }
}

for (const workload of CLASSIFIERS) {
  measureRow(`train ${workload.name} b${workload.batchSize}`, 'samples/s', (backend) => {
    const { timing, meanLoss } = timeClassifier(workload, backend, TRAIN_BUDGET);
    requireFinite(meanLoss, `${workload.name} ${backend} loss`);
    return perSecond(timing, workload.batchSize);
  });
}

measureRow(`train 2-4-1 toy, ${TOY_STEPS} steps`, `ms/${TOY_STEPS} steps`, (backend) => {
  const { timing, meanLoss } = timeToy(backend, TRAIN_BUDGET);
  requireFinite(meanLoss, `2-4-1 toy ${backend} loss`);
  return milliseconds(timing);
});

if (!asJson) {
  console.log(table(rows));
  console.log([
    '',
    'Medians of benchmark.js samples; GEMM counts 2·n³ FLOPs per call (M = K = N = n).',
    "wasm/js is the ratio of the medians in the row's unit: above 1 means wasm is faster, except in the ms row,",
    'where below 1 does. A call too slow for the sampling budget gets 3 samples (see the samples column).',
  ].join('\n'));
}
