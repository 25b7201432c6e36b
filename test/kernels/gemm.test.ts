import { describe, expect, it } from 'vitest';
import { gemm_nn, gemm_nt, gemm_tn } from '../../src/backend/js/gemm.js';
import { gemmScratchBytes, type Kernels } from '../../src/backend/kernels.js';
import { createBackendPair, onBackend, onBoth, type Buffers } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { exact, expectClose, scaled } from '../tolerance.js';

const pair = await createBackendPair();

/** float32 dot products may differ by this many ulps of Σ|a·b| between summation orders. */
const GEMM_ULPS = 16;
const SMALL_DIMENSIONS = [1, 3, 4, 5, 16, 17];
const shapes: [number, number, number][] = [];
for (const M of SMALL_DIMENSIONS) for (const K of SMALL_DIMENSIONS) for (const N of SMALL_DIMENSIONS) shapes.push([M, K, N]);
shapes.push([37, 129, 67], [128, 784, 10], [64, 127, 15], [3, 1031, 5], [1031, 3, 17]);
// The left operand is packed 128 rows at a time in groups of 4: blocks that end on a group, on a
// partial group, and a last block of a single row.
shapes.push([129, 5, 12], [131, 17, 9], [133, 6, 21], [256, 33, 13], [262, 7, 8]);
// Products above the in-place path's 16384 multiply-adds with tiny dimensions: the packed kernels' edges.
shapes.push([5, 1031, 17], [17, 300, 5], [300, 17, 9], [129, 5, 40], [1031, 5, 4]);
// A small right operand read in place (rows 80 floats apart), and one packed because its rows are a
// multiple of 64 floats apart, with a last block of 6 rows.
shapes.push([40, 100, 80], [134, 64, 128]);
// A packed right operand is packed by each block's first 4-row tile as it reads B in place; a block of
// fewer than 4 rows (the last 2 rows here) packs it on its own first.
shapes.push([130, 70, 96]);
// Up to 4 inner terms and 4 or 8 columns: the in-place path's rows with B held in registers.
for (const K of [1, 2, 3, 4]) for (const N of [4, 8]) for (const M of [1, 6, 100]) shapes.push([M, K, N]);

// 'tn' and 'nt +=' accumulate onto start values ("+="); 'tn =' and 'nt' write over NaN ("=").
type Layout = 'nn' | 'nn with bias' | 'nt' | 'nt +=' | 'tn' | 'tn =';
const LAYOUTS: Layout[] = ['nn', 'nn with bias', 'nt', 'nt +=', 'tn', 'tn ='];
const accumulates = (layout: Layout): boolean => layout === 'tn' || layout === 'nt +=';

/** Σ|terms| of each output element: the same product, by the float64 twin, over absolute values. */
function termMagnitudes(
  layout: Layout, M: number, K: number, N: number, left: Float32Array, right: Float32Array, addend: Float32Array,
): Float64Array {
  const rightIndex = M * K;
  const addendIndex = rightIndex + K * N;
  const outIndex = addendIndex + addend.length;
  const m = new Float64Array(outIndex + M * N);
  m.set(left.map(Math.abs), 0);
  m.set(right.map(Math.abs), rightIndex);
  m.set(addend.map(Math.abs), accumulates(layout) ? outIndex : addendIndex);
  if (layout === 'tn') gemm_tn(m, outIndex, 0, rightIndex, M, K, N, M, 1);
  else if (layout === 'nt +=') gemm_nt(m, outIndex, 0, rightIndex, M, K, N, 1);
  else if (layout === 'tn =') gemm_tn(m, outIndex, 0, rightIndex, M, K, N, M, 0);
  else if (layout === 'nt') gemm_nt(m, outIndex, 0, rightIndex, M, K, N, 0);
  else gemm_nn(m, outIndex, 0, rightIndex, layout === 'nn' ? -1 : addendIndex, M, K, N);
  return m.subarray(outIndex);
}

/** Runs one product on both backends and compares within GEMM_ULPS of each element's Σ|terms|. */
function compareGemm(layout: Layout, M: number, K: number, N: number, misalignment: number, build: 'wasm' | 'relaxed' = 'wasm'): void {
  const what = `gemm ${layout} M=${M} K=${K} N=${N}${misalignment ? ` misaligned by ${misalignment}` : ''}`;
  const random = createRandom(what);
  const left = mixedValues(random, M * K);
  const right = mixedValues(random, K * N);
  // The bias of nn, or the start values tn and nt += accumulate onto.
  const addend = mixedValues(random, accumulates(layout) ? M * N : N);

  const runCase = (kernels: Kernels, buffers: Buffers): Float32Array => {
    const leftOffset = buffers.input(left);
    const rightOffset = buffers.input(right);
    // Scratch starts as NaN: a kernel that read scratch it had not written would show it.
    const scratch = buffers.output(gemmScratchBytes(K, M) / 4);
    if (accumulates(layout)) {
      const out = buffers.output(M * N, addend);
      if (layout === 'tn') kernels.gemm_tn(out, leftOffset, rightOffset, M, K, N, M, 1, scratch);
      else kernels.gemm_nt(out, leftOffset, rightOffset, M, K, N, 1, scratch);
      return buffers.read(out);
    }
    // Outputs start as NaN: an element the kernel did not write would show it.
    const out = buffers.output(M * N);
    if (layout === 'tn =') {
      kernels.gemm_tn(out, leftOffset, rightOffset, M, K, N, M, 0, scratch);
      return buffers.read(out);
    }
    if (layout === 'nt') kernels.gemm_nt(out, leftOffset, rightOffset, M, K, N, 0, scratch);
    else kernels.gemm_nn(out, leftOffset, rightOffset, layout === 'nn' ? 0 : buffers.input(addend), M, K, N, scratch);
    return buffers.read(out);
  };
  const results = { wasm: onBackend(pair[build], runCase, misalignment), js: onBackend(pair.js, runCase, misalignment) };

  const tolerance = scaled(termMagnitudes(layout, M, K, N, left, right, addend), GEMM_ULPS);
  expectClose(results.wasm, results.js, tolerance, what);
}

describe('gemm twins on hand-computed products', () => {
  // x = [[1, 2], [3, 4]], w = [[5, 6], [7, 8]] at indices 0 and 4; out at 8; bias at 12.
  const memory = () => Float64Array.of(1, 2, 3, 4, 5, 6, 7, 8, NaN, NaN, NaN, NaN, 1, -1);

  it('gemm_nn: x·w, and x·w + bias', () => {
    const m = memory();
    gemm_nn(m, 8, 0, 4, -1, 2, 2, 2);
    expect(Array.from(m.subarray(8, 12))).toEqual([19, 22, 43, 50]);
    gemm_nn(m, 8, 0, 4, 12, 2, 2, 2);
    expect(Array.from(m.subarray(8, 12))).toEqual([20, 21, 44, 49]);
  });

  it('gemm_nn: a 1×3 row times a 3×2 matrix', () => {
    const m = Float64Array.of(1, 2, 3, 1, 0, 0, 1, 1, 1, NaN, NaN);
    gemm_nn(m, 9, 0, 3, -1, 1, 3, 2);
    expect(Array.from(m.subarray(9, 11))).toEqual([4, 5]);
  });

  it('gemm_nt: x·wᵀ, and added to what out holds', () => {
    const m = memory();
    gemm_nt(m, 8, 0, 4, 2, 2, 2, 0);
    expect(Array.from(m.subarray(8, 12))).toEqual([17, 23, 39, 53]);
    gemm_nt(m, 8, 0, 4, 2, 2, 2, 1);
    expect(Array.from(m.subarray(8, 12))).toEqual([34, 46, 78, 106]);
  });

  it('gemm_tn: out += xᵀ·w', () => {
    const m = memory();
    m.fill(1, 8, 12);
    gemm_tn(m, 8, 0, 4, 2, 2, 2, 2, 1);
    expect(Array.from(m.subarray(8, 12))).toEqual([27, 31, 39, 45]);
  });

  it('gemm_tn with accumulate 0: out = xᵀ·w', () => {
    const m = memory();
    m.fill(NaN, 8, 12);
    gemm_tn(m, 8, 0, 4, 2, 2, 2, 2, 0);
    expect(Array.from(m.subarray(8, 12))).toEqual([26, 30, 38, 44]);
  });
});

describe.each(['tn', 'nt'] as const)('gemm_%s: complete sums are added, so accumulating onto a written product doubles it exactly', (layout) => {
  it.each([[5, 17, 3], [16, 16, 16], [37, 129, 67], [1, 3, 1], [17, 5, 9]])('M=%i K=%i N=%i', (M, K, N) => {
    const what = `gemm_${layout} twice M=${M} K=${K} N=${N}`;
    const random = createRandom(what);
    const a = mixedValues(random, K * M);
    const b = mixedValues(random, K * N);
    const product = (kernels: Kernels, out: number, aOffset: number, bOffset: number, accumulate: number, scratch: number): void => {
      // tn: out[M×N] (+)= a[K×M]ᵀ·b[K×N]; nt: out[M×N] (+)= a[M×K]·b[N×K]ᵀ.
      if (layout === 'tn') kernels.gemm_tn(out, aOffset, bOffset, M, K, N, M, accumulate, scratch);
      else kernels.gemm_nt(out, aOffset, bOffset, M, K, N, accumulate, scratch);
    };
    const results = onBoth(pair, (kernels, buffers) => {
      // Written over NaN, then added onto.
      const out = buffers.output(M * N);
      const aOffset = buffers.input(a);
      const bOffset = buffers.input(b);
      const scratch = buffers.output(gemmScratchBytes(Math.max(K, M), M) / 4);
      product(kernels, out, aOffset, bOffset, 0, scratch);
      const once = buffers.read(out);
      product(kernels, out, aOffset, bOffset, 1, scratch);
      return { once, twice: buffers.read(out) };
    });
    for (const side of [results.wasm, results.js]) expectClose(side.twice, side.once.map((value) => 2 * value), exact, what);
  });
});

describe.each(['wasm', 'relaxed'] as const)('gemm: the %s build against js', (build) => {
  it('is the build it says', () => {
    expect(pair[build].description).toBe(build === 'relaxed' ? 'wasm simd128 + relaxed-simd' : 'wasm simd128');
  });
  for (const layout of LAYOUTS) {
    it.each(shapes)(`${layout} M=%i K=%i N=%i`, (M, K, N) => compareGemm(layout, M, K, N, 0, build));
    it.each([[5, 17, 3], [16, 16, 16], [37, 129, 67]])(`${layout} M=%i K=%i N=%i misaligned by one element`, (M, K, N) =>
      compareGemm(layout, M, K, N, 1, build));
  }
});

describe('gemm_tn with lda > M: a block of output rows on its own, as threads compute it', () => {
  it.each([[37, 129, 67, 5, 21], [16, 16, 16, 4, 12], [9, 3, 17, 0, 9]])('M=%i K=%i N=%i rows %i…%i', (M, K, N, first, end) => {
    const what = `gemm_tn block M=${M} K=${K} N=${N} rows ${first}…${end}`;
    const random = createRandom(what);
    const a = mixedValues(random, K * M);
    const b = mixedValues(random, K * N);
    for (const backend of [pair.wasm, pair.relaxed, pair.js]) {
      const [whole, block] = [0, 1].map((part) => onBackend(backend, (kernels, buffers) => {
        const out = buffers.output(M * N, new Float32Array(M * N));
        const aOffset = buffers.input(a);
        const bOffset = buffers.input(b);
        const scratch = buffers.output(gemmScratchBytes(K, M) / 4);
        if (part === 0) kernels.gemm_tn(out, aOffset, bOffset, M, K, N, M, 1, scratch);
        else kernels.gemm_tn(out + first * N * 4, aOffset + first * 4, bOffset, end - first, K, N, M, 1, scratch);
        return buffers.read(out);
      }));
      // The block's rows are bit-identical to the whole product's; the other rows are untouched.
      expectClose(block.subarray(first * N, end * N), whole.subarray(first * N, end * N), exact, `${backend.description} ${what}`);
      expect(block.subarray(0, first * N).every((v) => v === 0)).toBe(true);
      expect(block.subarray(end * N).every((v) => v === 0)).toBe(true);
    }
  });
});

describe('the in-place path for small products gives the packed kernels\' bits', () => {
  // The first 4 rows of a product above the threshold (packed) against the same 4 rows alone (in place):
  // in blocks of rows, and (K ≤ 4, N = 4 or 8) a row at a time with B in registers.
  it.each([
    ...(['nn', 'nt', 'tn'] as const).map((layout) => [layout, 300, 17, 8] as const),
    ...(['nn', 'nt', 'tn'] as const).flatMap((layout) => [[layout, 1000, 3, 8], [layout, 2100, 2, 4]] as const),
  ])('gemm_%s M=%i K=%i N=%i', (layout, M, K, N) => {
    const random = createRandom(`small vs packed ${layout}`);
    const left = mixedValues(random, M * K);
    const right = mixedValues(random, K * N);
    const bias = mixedValues(random, N);
    for (const build of ['wasm', 'relaxed'] as const) {
      const rows = (count: number): Float32Array => onBackend(pair[build], (kernels, buffers) => {
        const scratch = buffers.output(gemmScratchBytes(K, M) / 4, new Float32Array(gemmScratchBytes(K, M) / 4));
        const out = buffers.output(count * N, new Float32Array(count * N).fill(layout === 'tn' ? 0.5 : NaN));
        const a = buffers.input(left);
        const b = buffers.input(right);
        if (layout === 'nn') kernels.gemm_nn(out, a, b, buffers.input(bias), count, K, N, scratch);
        else if (layout === 'nt') kernels.gemm_nt(out, a, b, count, K, N, 0, scratch);
        // tn: output rows are columns of a [K × M] left operand, lda = M whatever the count.
        else kernels.gemm_tn(out, a, b, count, K, N, M, 1, scratch);
        return buffers.read(out).slice(0, 4 * N);
      });
      expect(Array.from(new Uint32Array(rows(4).buffer))).toEqual(Array.from(new Uint32Array(rows(M).buffer)));
    }
  });
});
