// simdprop benchmark: simdprop's wasm backend against its js twin, a plain hand-written JS baseline,
// tfjs-cpu and tfjs-wasm, in one process on one thread — GEMM in the three layouts of a dense layer,
// a convolution's three products, then training throughput (MLPs, CNNs and a GPT) — with the measured SIMD ceiling.
// `--quick` for a smoke run, `--json` for JSON lines, `--slow-peers` to time peers whose step takes minutes.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { Rng, getBackend, init } from '../src/index.js';
import {
  CEILING_OPS, CEILING_SHAPES, RELAXED_UNAVAILABLE, compileCeilings, loadCeiling, measureTwoThreadCeiling,
  type CeilingShape, type Paired,
} from './ceiling.js';
import { CONV_CASES, CONV_KERNELS, checkConvAgreement, convFlops, convWorkload, prepareConv } from './conv.js';
import {
  AGREEMENT, GEMM_KERNELS, GEMM_PRODUCTS, checkAgreement, gemmFlops, gemmValues, preparePlain, prepareSimdprop,
  type GemmKernel, type GemmValues, type PreparedGemm,
} from './gemm.js';
import { median, timeCall, type Budget } from './measure.js';
import { HALF_SECONDS, availableVariants, measureVariants, variantTable } from './variants.js';
import { loadTfjs, prepareTfjsGemm, tfjsTrainer, useTfjsBackend, type TfjsPeer } from './peers/tfjs.js';
import {
  BACKENDS, PEERS, ceilingJsonLine, formatValue, jsonLines, milliseconds, perSecond, table,
  type BackendId, type Measured, type Row,
} from './report.js';
import {
  DoesNotLearn, TOY_STEPS, TRAINING_WORKLOADS, checkLearns, itemsPerStep, itemUnit, plainTrainer, simdpropTrainer,
  trainingCall, trainingData, trainingFlops, type Trainer, type TrainingData, type TrainingWorkload,
} from './training.js';

const FLAGS = ['--quick', '--json', '--slow-peers'];
const args = process.argv.slice(2);
for (const arg of args) {
  if (!FLAGS.includes(arg)) {
    console.error(`bench: unknown argument ${arg}: expected ${FLAGS.join(' and/or ')}`);
    process.exit(2);
  }
}
const quick = args.includes('--quick');
const asJson = args.includes('--json');
const slowPeers = args.includes('--slow-peers');

const SIZES = quick ? [128, 256] : [128, 256, 512, 1024];
// Rounds of the ceiling's tiles, each tile once a round.
const CEILING_ROUNDS = quick ? 10 : 40;
// simdprop's GEMM against the ceiling in alternating pairs, for each GEMM row: the machine's speed
// drifts with its neighbours' load, and a pair's two halves see the same load.
const CEILING_PAIRS = quick ? 5 : 25;
const GEMM_BUDGET: Budget = quick ? { maxTime: 0.3, minSamples: 3 } : { maxTime: 1.5, minSamples: 5 };
const TRAIN_BUDGET: Budget = quick ? { maxTime: 0.3, minSamples: 2 } : { maxTime: 2.5, minSamples: 5 };
// The js twin and tfjs-cpu take seconds per CNN step (the VGG's: ~8 s for the twin) and per
// convolution product: those cells get 2 timed calls after a 2-step learning check, so the CNN rows
// add minutes, not tens of them. simdprop-wasm's cells keep the full budget.
const SLOW_PEER_BUDGET: Budget = { maxTime: TRAIN_BUDGET.maxTime, minSamples: 2 };
const SLOW_PEER_LEARNING_STEPS = 2;
const AGREEMENT_SIZE = 128;
// Steps on one batch whose loss must fall before a model is timed.
const LEARNING_CHECK_STEPS = quick ? 2 : 3;

// stdout carries only the tables, or only JSON lines; the header and progress go to stderr with --json.
const say = (line: string): void => console[asJson ? 'error' : 'log'](line);
const started = performance.now();
const progress = (line: string): void => console.error(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${line}`);

// One thread: the threads rows will be separate ones.
// The comparison with peers runs the baseline SIMD128 build on one thread; relaxed SIMD and threads
// have a table of their own (bench/variants.ts).
await init({ backend: 'wasm', threads: 1, relaxed: false });
const wasm = getBackend('wasm');
const js = getBackend('js');
const tfjs = await loadTfjs();
const present = BACKENDS.filter((backend) => !backend.startsWith('tfjs-') || tfjs.available.has(backend as TfjsPeer));
const peers = PEERS.filter((peer) => present.includes(peer));

async function activate(backend: BackendId): Promise<void> {
  if (backend === 'tfjs-cpu' || backend === 'tfjs-wasm') await useTfjsBackend(tfjs.tf!, backend);
}

/** How each backend prepares a GEMM; tfjs's uses the active tfjs backend (see activate). */
function gemmPreparer(backend: BackendId): (kernel: GemmKernel, values: GemmValues) => PreparedGemm {
  if (backend === 'simdprop-wasm') return (kernel, values) => prepareSimdprop(wasm, kernel, values);
  if (backend === 'simdprop-js') return (kernel, values) => prepareSimdprop(js, kernel, values);
  if (backend === 'plain-js') return preparePlain;
  return (kernel, values) => prepareTfjsGemm(tfjs.tf!, kernel, values);
}

function trainer(backend: BackendId, workload: TrainingWorkload, data: TrainingData): Trainer | undefined {
  if (backend === 'simdprop-wasm') return simdpropTrainer(workload, data, 'wasm');
  if (backend === 'simdprop-js') return simdpropTrainer(workload, data, 'js');
  if (backend === 'plain-js') return plainTrainer(workload, data);
  const rng = new Rng(7);
  return tfjsTrainer(tfjs.tf!, workload, data, () => rng.uniform());
}

// A benchmark of a wrong product is worthless: the run stops here unless every backend agrees with
// simdprop's js twin on all three products.
const agreement: string[] = [];
for (const backend of present.filter((name) => name !== 'simdprop-js')) {
  await activate(backend);
  const worst = checkAgreement(AGREEMENT_SIZE, gemmPreparer('simdprop-js'), backend, gemmPreparer(backend));
  agreement.push(`${backend} ${worst.toExponential(1)}`);
}
const convAgreement = checkConvAgreement(wasm, js);

await compileCeilings();
progress('ready: GEMM agreement checked, ceiling kernels compiled');

const cpus = os.cpus();
say([
  `# simdprop bench — ${new Date().toISOString()}${quick ? ' (--quick)' : ''}`,
  `node ${process.version} (V8 ${process.versions.v8}) · ${cpus[0]?.model ?? 'unknown CPU'}${await cpuFamily()} · ${cpus.length} cores · ` +
    `load average ${os.loadavg()[0].toFixed(2)} at start · 1 thread`,
  `backends: simdprop-wasm = ${wasm.description}, simdprop-js = simdprop's ${js.description} twin, plain-js = bench/baselines/plain.ts` +
    [...tfjs.available].map(([peer, description]) => `, ${peer} = ${description}`).join(''),
  ...tfjs.problems,
  `GEMM agreement with the js twin at n=${AGREEMENT_SIZE}, max|x − js| / max|js| over the three products (limit ${AGREEMENT}): ` +
    agreement.join(', ') + `; the three conv2d kernels, simdprop-wasm ${convAgreement.toExponential(1)}`,
  `every model's loss fell over ${LEARNING_CHECK_STEPS} steps on one batch before it was timed (the CNN rows' peers: ${SLOW_PEER_LEARNING_STEPS} steps)`,
  '',
].join('\n'));

// Every register tile of both builds is timed; the fastest tile of the build simdprop runs is the
// ceiling, timed again in pairs with simdprop's GEMM in each GEMM row. simdprop's GEMM is held against
// its own build's ceiling.
const simdpropRelaxed = wasm.description.includes('relaxed');
let pairWithCeiling: ((work: () => void, flopsPerCall: number) => Paired) | undefined;
let ceilingSummary = '';
let clock: Measured | undefined;
for (const kind of ['simd128', 'relaxed'] as const) {
  const ceiling = await loadCeiling(kind);
  if (!ceiling) {
    say(RELAXED_UNAVAILABLE);
    continue;
  }
  let best: { shape: CeilingShape; measured: Measured } | undefined;
  const parts: string[] = [];
  let held = '';
  const tiles = ceiling.measureTiles(CEILING_SHAPES, CEILING_ROUNDS);
  for (const [index, shape] of CEILING_SHAPES.entries()) {
    const measured = tiles[index];
    const workload = `ceiling ${kind} ${shape.name}`;
    if (asJson) console.log(ceilingJsonLine(workload, measured));
    if (shape.held) {
      held = `; ${shape.rows}x${shape.vectors} with its splats held in registers (the multiply and add pipes alone, no ` +
        `loads of A: not a GEMM tile) ${formatValue(measured.median)}`;
      continue;
    }
    parts.push(`${shape.name} ${formatValue(measured.median)}`);
    if (!best || measured.median > best.measured.median) best = { shape, measured };
  }
  const { shape, measured } = best as { shape: CeilingShape; measured: Measured };
  say(`ceiling, ${CEILING_OPS[kind]} (${kind} build), rows×vectors tiles of independent accumulators, one core, L1-resident, ` +
    `medians of ${CEILING_ROUNDS} rounds of every tile in turn: ` +
    `${parts.join(', ')} GFLOP/s → ${formatValue(measured.median)} (${shape.name})${held}`);
  // The clock from the build every runtime with SIMD validates.
  if (kind === 'simd128') clock = ceiling.clock(quick ? 5 : 15);
  if (kind === (simdpropRelaxed ? 'relaxed' : 'simd128')) {
    pairWithCeiling = (work, flopsPerCall) => ceiling.paired(shape, work, flopsPerCall, CEILING_PAIRS);
    ceilingSummary = `the ${kind} ceiling (${shape.name} tile)`;
  }
}
if (clock) {
  if (asJson) console.log(ceilingJsonLine('core clock, dependent i32 additions', clock, 'GHz'));
  say(`core clock while running wasm: ${formatValue(clock.max)} GHz at most, median ${formatValue(clock.median)} ` +
    `(${clock.samples} timings of a chain of dependent i32 additions, one a cycle)`);
}
if (!pairWithCeiling) throw new Error(`bench: simdprop runs its ${simdpropRelaxed ? 'relaxed' : 'simd128'} build but that ceiling did not load`);
const rowCeiling = pairWithCeiling;
say(`% ceiling: simdprop-wasm's GEMM over ${ceilingSummary}, timed in ${CEILING_PAIRS} alternating pairs of a few ms each ` +
  `(median of the pairs' ratios, so both halves see the same load; simdprop-wasm runs its ${simdpropRelaxed ? 'relaxed-SIMD' : 'SIMD128'} build)\n`);

const rows: Row[] = [];

/**
 * Measures one workload on every backend, simdprop-wasm first, and reports it as it completes.
 * `paired`, read once every backend is measured, is simdprop's pairing with the ceiling (GEMM and
 * classifier training rows).
 */
async function measureRow(
  row: Omit<Row, 'cells' | 'ceiling' | 'percentOfCeiling'>,
  measure: (backend: BackendId) => Measured | undefined,
  paired?: () => Paired | undefined,
): Promise<void> {
  const complete: Row = { ...row, cells: {} };
  for (const backend of present) {
    await activate(backend);
    const measured = measure(backend);
    if (measured) complete.cells[backend] = measured;
  }
  const efficiency = paired?.();
  if (efficiency) {
    complete.ceiling = efficiency.ceiling;
    complete.percentOfCeiling = 100 * efficiency.median;
  }
  rows.push(complete);
  if (asJson) for (const line of jsonLines(complete)) console.log(line);
  const summary = present.filter((backend) => complete.cells[backend]).map((backend) => {
    const cell = complete.cells[backend] as Measured;
    return `${backend} ${formatValue(cell.median)} (${cell.samples})`;
  });
  progress(`${row.workload}: ${summary.join(', ')} ${row.unit}`);
}

/** Results are read back and checked, so neither V8 nor a broken kernel can make the work vanish. */
function requireFinite(value: number, what: string): void {
  if (!Number.isFinite(value)) console.error(`warning: ${what} is ${value}: this row timed non-finite arithmetic`);
}

for (const kernel of GEMM_KERNELS) {
  // Seconds per call at the previous size, per backend: 8× that estimates the next size's call.
  const previous = new Map<BackendId, number>();
  for (const n of SIZES) {
    const workload = `${kernel} ${GEMM_PRODUCTS[kernel]} n=${n}`;
    const values = gemmValues(n, 0x6e6d + n);
    let paired: Paired | undefined;
    await measureRow({ family: 'gemm', workload, unit: 'GFLOP/s', lowerIsBetter: false }, (backend) => {
      const prepared = gemmPreparer(backend)(kernel, values);
      const estimate = previous.has(backend) ? 8 * (previous.get(backend) as number) : undefined;
      const timing = timeCall(`${workload} ${backend}`, () => prepared.call(), GEMM_BUDGET, estimate);
      if (backend === 'simdprop-wasm') paired = rowCeiling(() => prepared.call(), gemmFlops(n));
      previous.set(backend, timing.median);
      requireFinite(prepared.output()[0], `${workload} ${backend} output`);
      prepared.dispose();
      return perSecond(timing, gemmFlops(n) / 1e9);
    }, () => paired);
  }
}

// A convolution layer's three products alone, on simdprop-wasm and its js twin (the plain baseline has
// no convolutions; tfjs's are timed inside its CNN training rows).
for (const convCase of CONV_CASES) {
  for (const kernel of CONV_KERNELS) {
    const workload = convWorkload(kernel, convCase);
    const flops = convFlops(convCase);
    let paired: Paired | undefined;
    await measureRow({ family: 'conv', workload, unit: 'GFLOP/s', lowerIsBetter: false }, (backend) => {
      if (backend !== 'simdprop-wasm' && backend !== 'simdprop-js') return undefined;
      const prepared = prepareConv(backend === 'simdprop-wasm' ? wasm : js, kernel, convCase);
      const timing = timeCall(`${workload} ${backend}`, () => prepared.call(), backend === 'simdprop-wasm' ? GEMM_BUDGET : SLOW_PEER_BUDGET);
      if (backend === 'simdprop-wasm') paired = rowCeiling(() => prepared.call(), flops);
      requireFinite(prepared.output()[0], `${workload} ${backend} output`);
      prepared.dispose();
      return perSecond(timing, flops / 1e9);
    }, () => paired);
  }
}

// Peers that cannot train a workload at all, with what they said (tfjs-wasm on the CNNs and the GPT).
const cannotTrain: { workload: string; backend: BackendId; message: string }[] = [];
// Peers whose step on a workload takes minutes, left out without --slow-peers.
const notTimed: { workload: string; backend: BackendId }[] = [];

for (const workload of TRAINING_WORKLOADS) {
  const data = trainingData(workload);
  const toy = workload.stepsPerCall > 1;
  const unit = toy ? `ms/${TOY_STEPS} steps` : itemUnit(workload);
  let paired: Paired | undefined;
  await measureRow({ family: 'training', workload: workload.name, unit, lowerIsBetter: toy }, (backend) => {
    if (!slowPeers && workload.minutesPerStepOn?.includes(backend)) {
      notTimed.push({ workload: workload.name, backend });
      return undefined;
    }
    const model = trainer(backend, workload, data);
    // A peer that cannot run the workload (the plain baseline has no residual blocks) has no cell.
    if (model === undefined) return undefined;
    const slowPeer = (workload.cnn !== undefined || workload.gpt !== undefined) && backend !== 'simdprop-wasm';
    let secondsPerStep: number;
    try {
      secondsPerStep = checkLearns(model, slowPeer ? SLOW_PEER_LEARNING_STEPS : LEARNING_CHECK_STEPS, `${workload.name} ${backend}`);
    } catch (error) {
      // tfjs-backend-wasm has no Conv2DBackpropFilter kernel, nor the UnsortedSegmentSum that tf.gather's
      // gradient needs: its CNN and GPT steps throw, and the row says so. Anything else — a model whose
      // loss does not fall included — stops the run.
      if (!(backend === 'tfjs-wasm' && (workload.cnn || workload.gpt)) || error instanceof DoesNotLearn) throw error;
      cannotTrain.push({ workload: workload.name, backend, message: (error as Error).message });
      if (asJson) console.log(JSON.stringify({ workload: workload.name, backend, threads: 1, error: (error as Error).message }));
      model.dispose();
      return undefined;
    }
    const { call, meanLoss } = trainingCall(workload, model);
    // The check's steps estimate a one-step call; the toy's first steps (allocation, cold code) cannot.
    const estimate = workload.stepsPerCall === 1 ? secondsPerStep : undefined;
    const timing = timeCall(`${workload.name} ${backend}`, call, slowPeer ? SLOW_PEER_BUDGET : TRAIN_BUDGET, estimate);
    // The toy's products are too small for arithmetic to matter: it measures per-step overhead.
    if (backend === 'simdprop-wasm' && !toy) paired = rowCeiling(call, trainingFlops(workload));
    requireFinite(meanLoss(), `${workload.name} ${backend} loss`);
    model.dispose();
    return toy ? milliseconds(timing) : perSecond(timing, itemsPerStep(workload));
  }, () => paired);
}

// simdprop's own builds and thread counts, side by side, and what two threads give on the ceiling's
// register-bound loop: the most any threaded workload can scale by on this machine now.
const twoThreads = await measureTwoThreadCeiling(CEILING_SHAPES.find((shape) => shape.name === '2x4') as CeilingShape, quick ? 5 : 15);
const twoThreadLine = `the ceiling's 2x4 tile on 2 threads at once (nothing shared) does ${formatValue(twoThreads.median)}× one ` +
  `thread's work per second (median of ${twoThreads.ratios.length} rounds, ${formatValue(twoThreads.ratios[0])}–` +
  `${formatValue(twoThreads.ratios[twoThreads.ratios.length - 1])}×): no threaded workload scales beyond what this machine gives`;
if (asJson) {
  console.log(JSON.stringify({ workload: 'ceiling simd128 2x4, 2 threads over 1', backend: 'ceiling', threads: 2, median: twoThreads.median,
    min: twoThreads.ratios[0], max: twoThreads.ratios[twoThreads.ratios.length - 1], unit: '×', samples: twoThreads.ratios.length }));
}
progress(twoThreadLine);
const VARIANT_SIZES = quick ? [256] : [512, 1024];
// Alternating pairs of a build's 1- and 2-thread calls per workload (each half HALF_SECONDS).
const VARIANT_PAIRS = quick ? 5 : 15;
const { variants, notes: variantNotes } = await availableVariants();
const variantRows = await measureVariants(variants, VARIANT_SIZES, VARIANT_PAIRS, (workload, variant, measured, unit, ratio) => {
  if (asJson) {
    console.log(JSON.stringify({
      workload, backend: variant.relaxed ? 'simdprop-wasm-relaxed' : 'simdprop-wasm', threads: variant.threads,
      median: measured.median, min: measured.min, max: measured.max, unit, samples: measured.samples,
      ...(ratio ? { pairedRatio: ratio } : {}),
    }));
  }
  const overOne = ratio ? ` (${formatValue(ratio.median)}× 1 thread, ${formatValue(ratio.min)}–${formatValue(ratio.max)})` : '';
  progress(`${workload} ${variant.title}: ${formatValue(measured.median)} ${unit}${overOne}`);
});

if (!asJson) {
  console.log(`\n## GEMM, one thread, GFLOP/s (2·n³ FLOPs per call, M = K = N = n)\n`);
  const gemmRows = rows.filter((row) => row.family === 'gemm');
  console.log(table(gemmRows, peers));
  const rowCeilings = gemmRows.flatMap((row) => (row.ceiling === undefined ? [] : [row.ceiling])).sort((x, y) => x - y);
  if (rowCeilings.length > 0) {
    console.log(`\nThe ceiling in each row's pairs (median per row): median ${formatValue(median(rowCeilings))}, ` +
      `${formatValue(rowCeilings[0])}–${formatValue(rowCeilings[rowCeilings.length - 1])} GFLOP/s.`);
  }
  console.log(`\n## Convolution products, one thread, GFLOP/s (2·batch·outH·outW·k²·in·out FLOPs per call)\n`);
  console.log(table(rows.filter((row) => row.family === 'conv'), ['simdprop-js']));
  console.log([
    '',
    'A convolution layer\'s three kernels alone through the backend\'s kernels: the forward with bias and relu fused,',
    'the input gradient and the weight gradient (written, not accumulated), each counted as the forward\'s FLOPs.',
    '% ceiling as for GEMM. The js twin\'s cells are 2 calls each.',
  ].join('\n'));
  console.log(`\n## Training, one thread\n`);
  console.log(table(rows.filter((row) => row.family === 'training'), peers));
  console.log([
    '',
    'Medians of benchmark.js samples; min–max are simdprop-wasm\'s extreme samples. × is how many times faster',
    'simdprop-wasm is than the column before it (above 1: simdprop is faster), in every row including the ms row.',
    'tfjs GEMM rows call tf.matMul with transposeA/transposeB for the backward layouts: whatever tfjs does for them.',
    '% ceiling of a training row: the step\'s products (X·W and Xᵀ·dZ for every layer, dZ·Wᵀ for all but the first)',
    'in FLOPs per second over the ceiling, in pairs as for GEMM; the rest of the step (activations, loss, update)',
    'counts as time but not as FLOPs. A CNN\'s products are its convolutions\' and dense layers\' (forward, weight',
    'gradient, and input gradient for all but the first): LeNet-5 2.26 MFLOP per sample, the small VGG 151.4.',
    'The GPT row counts tokens (16 windows of 32 a step); its products per token are, per block, the qkv projection,',
    'the attention scores and weighted sum over the full 32×32 (the masked half included), the output projection and',
    'the MLP, then the tied head, each as forward, weight and input gradient: 4.94 MFLOP per token. Its tfjs peer is the',
    'same GPT from tfjs-core ops (the same init from the same seed: the same losses), AdamW as tf.train.adam plus the',
    'decoupled decay by hand.',
    'The CNN and GPT rows\' js twin and tfjs-cpu cells are 2 timed steps after a 2-step learning check; plain JS has',
    'neither convolutions nor attention.',
    ...cannotTrainLines(),
    ...notTimed.map(({ workload, backend }) => `${backend} on "${workload}": not timed, a step takes it minutes (its convolution weight ` +
      'gradient reads every element through TensorBuffer.get); --slow-peers times it.'),
  ].join('\n'));
  console.log(`\n## simdprop's builds and threads\n`);
  for (const note of variantNotes) console.log(`${note}\n`);
  console.log(variantTable(variantRows, variants));
  console.log([
    '',
    `Per build, each workload is timed in ${VARIANT_PAIRS} alternating pairs in this run: the 1-thread call for about ${1000 * HALF_SECONDS} ms,`,
    'then the 2-thread call for about as long (one call each where a call takes longer). A cell is the median of its',
    `${VARIANT_PAIRS} halves. × 1 thread: the median of the pairs' ratios (2-thread rate over 1-thread rate), min–max in brackets:`,
    'load that comes and goes over seconds slows both halves of a pair alike.',
  ].join('\n'));
  console.log(`For scale, ${twoThreadLine}.`);
}

/** One line per peer and error: which rows it cannot train, quoting what it threw. */
function cannotTrainLines(): string[] {
  const groups = new Map<string, string[]>();
  for (const { workload, backend, message } of cannotTrain) {
    const key = JSON.stringify([backend, message]);
    groups.set(key, [...(groups.get(key) ?? []), workload]);
  }
  return [...groups].map(([key, workloads]) => {
    const [backend, message] = JSON.parse(key) as [string, string];
    return `${backend} cannot train ${workloads.map((name) => `"${name}"`).join(' or ')}: its first step throws "${message}".`;
  });
}

/** ", family F model M" from /proc/cpuinfo where there is one (Linux): which core design the model name hides. */
async function cpuFamily(): Promise<string> {
  const info = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const family = /^cpu family\s*:\s*(\d+)/m.exec(info)?.[1];
  const model = /^model\s*:\s*(\d+)/m.exec(info)?.[1];
  return family === undefined || model === undefined ? '' : ` (family ${family}, model ${model})`;
}
