// attention_forward and attention_backward: the twins against a float64 reference written here (plain
// loops over whole score matrices) and against central differences, and both wasm builds against the
// twin over odd lengths, head counts and widths, fused and strided layouts, caches (queries < keys),
// ranges of items, with and without saved probabilities and a dropout mask; outputs and scratch start
// NaN, and a buffer's untouched elements must stay NaN.
import { describe, expect, it } from 'vitest';
import { attention_backward, attention_forward } from '../../src/backend/js/attention.js';
import type { Floats } from '../../src/backend/js/floats.js';
import { attentionScratchBytes, type Kernels } from '../../src/backend/kernels.js';
import { createBackendPair, onBackend, type Buffers } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { exact, expectClose, EXP_UNDERFLOW, FLOAT32_EPSILON as EPS, type Tolerance } from '../tolerance.js';

const pair = await createBackendPair();
const BUILDS = ['wasm', 'relaxed'] as const;
/** A dropout probability of the attention weights: the mask holds 0 or 1/(1 − p). */
const DROP = 0.25;
/** exp's underflow (EXP_UNDERFLOW) in float32 epsilons, the unit the bounds are counted in. */
const UNDERFLOW_UNITS = EXP_UNDERFLOW / EPS;

interface Shape {
  batch: number;
  heads: number;
  headDim: number;
  queries: number;
  keys: number;
  /** One [batch, T, 3C] qkv buffer (queries = keys = T) and one dqkv; else q, k, v apart, rows padded. */
  fused: boolean;
  masked: boolean;
  /** Whether the forward saves the probabilities for the backward (else the backward recomputes them). */
  saved: boolean;
}

type Operand = 'out' | 'probs' | 'mask' | 'q' | 'k' | 'v' | 'dq' | 'dk' | 'dv' | 'dout';

/** One problem: its regions (inputs with their values, outputs with their lengths) and where each operand lies. */
interface Problem {
  shape: Shape;
  qStride: number;
  kvStride: number;
  outStride: number;
  scale: number;
  inputs: Map<string, Float32Array>;
  outputs: Map<string, number>;
  /** An operand's region and element offset in it; absent: none (0 to a kernel, −1 to a twin). */
  operands: Partial<Record<Operand, [string, number]>>;
}

const describeShape = (s: Shape): string =>
  `batch ${s.batch}, ${s.heads} heads of ${s.headDim}, ${s.queries} queries over ${s.keys} keys, ${s.fused ? 'fused qkv' : 'strided q, k, v'}` +
  `${s.masked ? ', masked' : ''}${s.saved ? ', probabilities saved' : ''}`;

const items = (s: Shape): number => s.batch * s.heads;

function problem(shape: Shape): Problem {
  const { batch, heads, headDim, queries, keys, fused, masked, saved } = shape;
  const C = heads * headDim;
  // The values do not depend on whether the probabilities are saved: the two runs must agree.
  const random = createRandom(describeShape({ ...shape, saved: false }));
  const inputs = new Map<string, Float32Array>();
  const outputs = new Map<string, number>();
  const operands: Problem['operands'] = {};
  // Strides past the rows' C columns where the layout allows, so that a stride mistaken for C shows.
  const [qStride, kvStride, outStride] = fused ? [3 * C, 3 * C, C] : [C + 1, C + 2, C + 3];
  if (fused) {
    inputs.set('qkv', mixedValues(random, batch * keys * 3 * C, 0.5));
    outputs.set('dqkv', batch * keys * 3 * C);
    Object.assign(operands, { q: ['qkv', 0], k: ['qkv', C], v: ['qkv', 2 * C], dq: ['dqkv', 0], dk: ['dqkv', C], dv: ['dqkv', 2 * C] });
  } else {
    for (const [name, rows, stride] of [['q', queries, qStride], ['k', keys, kvStride], ['v', keys, kvStride]] as const) {
      inputs.set(name, mixedValues(random, batch * rows * stride, 0.5));
      outputs.set(`d${name}`, batch * rows * stride);
      operands[name] = [name, 0];
      operands[`d${name}`] = [`d${name}`, 0];
    }
  }
  inputs.set('dout', mixedValues(random, batch * queries * outStride));
  operands.dout = ['dout', 0];
  outputs.set('out', batch * queries * outStride);
  operands.out = ['out', 0];
  const probsFloats = items(shape) * queries * keys;
  if (saved) {
    outputs.set('probs', probsFloats);
    operands.probs = ['probs', 0];
  }
  if (masked) {
    // NaN at the invisible keys: a kernel that reads them there makes its outputs NaN.
    const mask = new Float32Array(probsFloats);
    for (let row = 0; row < items(shape) * queries; row++) {
      const visible = keys - queries + (row % queries) + 1;
      for (let j = 0; j < keys; j++) mask[row * keys + j] = j >= visible ? NaN : random() < DROP ? 0 : 1 / (1 - DROP);
    }
    inputs.set('mask', mask);
    operands.mask = ['mask', 0];
  }
  return { shape, qStride, kvStride, outStride, scale: Math.fround(1 / Math.sqrt(headDim)), inputs, outputs, operands };
}

/** The regions one after another in one array: each region's start, and the array's length. */
function flatLayout(p: Problem): { starts: Map<string, number>; length: number } {
  const starts = new Map<string, number>();
  let length = 0;
  for (const [name, values] of p.inputs) {
    starts.set(name, length);
    length += values.length;
  }
  for (const [name, size] of p.outputs) {
    starts.set(name, length);
    length += size;
  }
  return { starts, length };
}

/** A float64 array holding the problem's inputs, outputs NaN, and each operand's element index in it (−1: none). */
function flatMemory(p: Problem): { m: Float64Array; at: (operand: Operand) => number; starts: Map<string, number> } {
  const { starts, length } = flatLayout(p);
  const m = new Float64Array(length).fill(NaN);
  for (const [name, values] of p.inputs) m.set(values, starts.get(name)!);
  const at = (operand: Operand): number => {
    const place = p.operands[operand];
    return place === undefined ? -1 : starts.get(place[0])! + place[1];
  };
  return { m, at, starts };
}

/** Each output region of a flat array. */
function outputsOf(p: Problem, m: Floats, starts: Map<string, number>): Map<string, Floats> {
  return new Map([...p.outputs].map(([name, size]) => [name, m.slice(starts.get(name)!, starts.get(name)! + size)]));
}

/** The twins over float64 memory: each range's forward, then each range's backward. */
function twin64(p: Problem, ranges: [number, number][]): Map<string, Floats> {
  const { m, at, starts } = flatMemory(p);
  const s = p.shape;
  const geometry = [s.batch, s.heads, s.headDim, s.queries, s.keys, p.qStride, p.kvStride, p.outStride, p.scale] as const;
  for (const [first, last] of ranges) attention_forward(m, at('out'), at('probs'), at('mask'), at('q'), at('k'), at('v'), ...geometry, first, last);
  for (const [first, last] of ranges) {
    attention_backward(m, at('dq'), at('dk'), at('dv'), at('dout'), at('probs'), at('mask'), at('q'), at('k'), at('v'), ...geometry, first, last);
  }
  return outputsOf(p, m, starts);
}

/** The kernels on one backend: each range's forward, then each range's backward, scratch NaN-filled. */
function runKernels(p: Problem, ranges: [number, number][], kernels: Kernels, buffers: Buffers): Map<string, Float32Array> {
  const bases = new Map<string, number>();
  for (const [name, values] of p.inputs) bases.set(name, buffers.input(values));
  for (const [name, size] of p.outputs) bases.set(name, buffers.output(size));
  const at = (operand: Operand): number => {
    const place = p.operands[operand];
    return place === undefined ? 0 : bases.get(place[0])! + 4 * place[1];
  };
  const s = p.shape;
  const scratch = buffers.output(attentionScratchBytes(s.headDim, s.keys) / 4);
  const geometry = [s.batch, s.heads, s.headDim, s.queries, s.keys, p.qStride, p.kvStride, p.outStride, p.scale] as const;
  for (const [first, last] of ranges) kernels.attention_forward(at('out'), at('probs'), at('mask'), at('q'), at('k'), at('v'), ...geometry, first, last, scratch);
  for (const [first, last] of ranges) {
    kernels.attention_backward(at('dq'), at('dk'), at('dv'), at('dout'), at('probs'), at('mask'), at('q'), at('k'), at('v'), ...geometry, first, last, scratch);
  }
  return new Map([...p.outputs.keys()].map((name) => [name, buffers.read(bases.get(name)!)]));
}

/**
 * The outputs in float64 from whole score matrices, NaN where no item of the ranges writes, and for
 * each element a bound on a float32 implementation's error, in float32 epsilons: a shifted logit is off
 * by (headDim + 2) ulps of scale·Σ|q·k| plus a few of |s|, which becomes that relative error in exp (twice:
 * the logit and the max); the row sum adds `count` more. The sums over keys or queries after it add
 * their count in ulps of Σ|term|, and each product's error carries through as it does in exact arithmetic.
 */
function reference(p: Problem, ranges: [number, number][]): { expected: Map<string, Float64Array>; units: Map<string, Float64Array> } {
  const { m, at, starts } = flatMemory(p);
  const u = new Float64Array(m.length);
  const { heads, headDim: D, queries: Tq, keys: Tk } = p.shape;
  const { qStride, kvStride, outStride, scale } = p;
  for (const [first, last] of ranges) {
    for (let item = first; item < last; item++) {
      const [b, h] = [Math.floor(item / heads), item % heads];
      const qIndex = (i: number, d: number): number => at('q') + (b * Tq + i) * qStride + h * D + d;
      const kvIndex = (operand: 'k' | 'v' | 'dk' | 'dv', j: number, d: number): number => at(operand) + (b * Tk + j) * kvStride + h * D + d;
      const outIndex = (operand: 'out' | 'dout', i: number, d: number): number => at(operand) + (b * Tq + i) * outStride + h * D + d;
      const dqIndex = (i: number, d: number): number => at('dq') + (b * Tq + i) * qStride + h * D + d;
      const probsIndex = (operand: 'probs' | 'mask', i: number, j: number): number => at(operand) + (item * Tq + i) * Tk + j;
      const visible = (i: number, j: number): boolean => j <= Tk - Tq + i;
      const maskAt = (i: number, j: number): number => (at('mask') < 0 ? 1 : m[probsIndex('mask', i, j)]);
      // The whole [queries × keys] matrices of the item, the invisible entries 0.
      const P = Array.from({ length: Tq }, () => new Float64Array(Tk));
      const dS = Array.from({ length: Tq }, () => new Float64Array(Tk));
      const dSUnits = Array.from({ length: Tq }, () => new Float64Array(Tk));
      const relative = new Float64Array(Tq);
      for (let i = 0; i < Tq; i++) {
        const s = new Float64Array(Tk).fill(-Infinity);
        let logitUnits = 0;
        let count = 0;
        for (let j = 0; j < Tk; j++) {
          if (!visible(i, j)) continue;
          count++;
          let dot = 0, magnitude = 0;
          for (let d = 0; d < D; d++) {
            dot += m[qIndex(i, d)] * m[kvIndex('k', j, d)];
            magnitude += Math.abs(m[qIndex(i, d)] * m[kvIndex('k', j, d)]);
          }
          s[j] = scale * dot;
          logitUnits = Math.max(logitUnits, (D + 2) * scale * magnitude + 2 * Math.abs(s[j]));
        }
        const max = Math.max(...s);
        const e = s.map((value) => Math.exp(value - max));
        const sum = e.reduce((total, value) => total + value, 0);
        for (let j = 0; j < Tk; j++) P[i][j] = e[j] / sum;
        relative[i] = 2 * logitUnits + count + 16;
        if (at('probs') >= 0) {
          for (let j = 0; j < Tk; j++) {
            m[probsIndex('probs', i, j)] = P[i][j];
            u[probsIndex('probs', i, j)] = visible(i, j) ? relative[i] * P[i][j] + UNDERFLOW_UNITS : 0;
          }
        }
        for (let d = 0; d < D; d++) {
          let value = 0, magnitude = 0, values = 0;
          for (let j = 0; j < Tk; j++) {
            if (!visible(i, j)) continue;
            const mv = maskAt(i, j) * m[kvIndex('v', j, d)];
            value += P[i][j] * mv;
            magnitude += P[i][j] * Math.abs(mv);
            values += Math.abs(mv);
          }
          m[outIndex('out', i, d)] = value;
          u[outIndex('out', i, d)] = magnitude * (relative[i] + count + 4) + UNDERFLOW_UNITS * values;
        }
        // dP_j = M_ij·(dout_i·v_j), c = Σ_j P_ij·dP_ij, dS_ij = P_ij·(dP_ij − c), then times scale.
        const dP = new Float64Array(Tk);
        const dPUnits = new Float64Array(Tk);
        let c = 0, cMagnitude = 0, cUnits = 0;
        for (let j = 0; j < Tk; j++) {
          if (!visible(i, j)) continue;
          let dot = 0, magnitude = 0;
          for (let d = 0; d < D; d++) {
            dot += m[outIndex('dout', i, d)] * m[kvIndex('v', j, d)];
            magnitude += Math.abs(m[outIndex('dout', i, d)] * m[kvIndex('v', j, d)]);
          }
          dP[j] = maskAt(i, j) * dot;
          dPUnits[j] = (D + 2) * Math.abs(maskAt(i, j)) * magnitude;
          c += P[i][j] * dP[j];
          cMagnitude += P[i][j] * Math.abs(dP[j]);
          cUnits += relative[i] * P[i][j] * Math.abs(dP[j]) + P[i][j] * dPUnits[j];
        }
        cUnits += (count + 2) * cMagnitude;
        for (let j = 0; j < Tk; j++) {
          if (!visible(i, j)) continue;
          dS[i][j] = scale * P[i][j] * (dP[j] - c);
          const units = relative[i] * P[i][j] * Math.abs(dP[j] - c) + P[i][j] * (dPUnits[j] + cUnits) +
            (3 * P[i][j] + UNDERFLOW_UNITS) * (Math.abs(dP[j]) + Math.abs(c));
          dSUnits[i][j] = scale * (units + Math.abs(dS[i][j] / scale));
        }
      }
      for (let i = 0; i < Tq; i++) {
        const count = Tk - Tq + i + 1;
        for (let d = 0; d < D; d++) {
          let value = 0, units = 0;
          for (let j = 0; j < count; j++) {
            value += dS[i][j] * m[kvIndex('k', j, d)];
            units += dSUnits[i][j] * Math.abs(m[kvIndex('k', j, d)]) + (count + 2) * Math.abs(dS[i][j] * m[kvIndex('k', j, d)]);
          }
          m[dqIndex(i, d)] = value;
          u[dqIndex(i, d)] = units;
        }
      }
      for (let j = 0; j < Tk; j++) {
        for (let d = 0; d < D; d++) {
          let dk = 0, dkUnits = 0, dv = 0, dvUnits = 0;
          for (let i = 0; i < Tq; i++) {
            if (!visible(i, j)) continue;
            const qValue = m[qIndex(i, d)];
            const doutValue = maskAt(i, j) * m[outIndex('dout', i, d)];
            dk += dS[i][j] * qValue;
            dkUnits += dSUnits[i][j] * Math.abs(qValue) + (Tq + 2) * Math.abs(dS[i][j] * qValue);
            dv += P[i][j] * doutValue;
            dvUnits += (relative[i] * P[i][j] + UNDERFLOW_UNITS) * Math.abs(doutValue) + (Tq + 2) * P[i][j] * Math.abs(doutValue);
          }
          m[kvIndex('dk', j, d)] = dk;
          u[kvIndex('dk', j, d)] = dkUnits;
          m[kvIndex('dv', j, d)] = dv;
          u[kvIndex('dv', j, d)] = dvUnits;
        }
      }
    }
  }
  const regions = (values: Float64Array) => new Map([...p.outputs].map(([name, size]) => [name, values.slice(starts.get(name)!, starts.get(name)! + size)]));
  return { expected: regions(m), units: regions(u) };
}

/** `factor` times the reference's bound, in units of `epsilon`. */
function bound(units: Float64Array, epsilon: number, factor: number, description: string): Tolerance {
  return { description, allowance: (_expected, index) => factor * epsilon * units[index] };
}

/**
 * The twin in float64 against the reference; both wasm builds and the float32 twin against each other
 * (within twice the bound: both err), and every output NaN exactly where the reference leaves it NaN.
 */
function check(shape: Shape, ranges: [number, number][] = [[0, items(shape)]]): void {
  const p = problem(shape);
  const what = `${describeShape(shape)}, items ${ranges.map(([first, last]) => `${first}…${last}`).join(', ')}`;
  const { expected, units } = reference(p, ranges);
  const twin = twin64(p, ranges);
  const js = onBackend(pair.js, (kernels, buffers) => runKernels(p, ranges, kernels, buffers));
  for (const [name, values] of expected) {
    expectClose(twin.get(name)!, values, bound(units.get(name)!, 2 ** -52, 4, 'the reference\'s bound in float64'), `float64 twin ${what}: ${name}`);
    expectClose(js.get(name)!, values, bound(units.get(name)!, EPS, 1, 'the reference\'s bound'), `js ${what}: ${name}`);
  }
  for (const build of BUILDS) {
    const actual = onBackend(pair[build], (kernels, buffers) => runKernels(p, ranges, kernels, buffers));
    for (const [name, values] of expected) {
      expectClose(actual.get(name)!, values, bound(units.get(name)!, EPS, 1, 'the reference\'s bound'), `${build} ${what}: ${name} against the reference`);
      expectClose(actual.get(name)!, js.get(name)!, bound(units.get(name)!, EPS, 2, 'twice the reference\'s bound'), `${build} ${what}: ${name} against js`);
    }
  }
}

const shape = (batch: number, heads: number, headDim: number, queries: number, keys = queries, more: Partial<Shape> = {}): Shape =>
  ({ batch, heads, headDim, queries, keys, fused: queries === keys, masked: false, saved: true, ...more });

describe('attention twins on hand-computed values', () => {
  it('forward: one head of width 1, q = 1, k = [0, ln 2], v = [3, 6]: row 0 sees key 0, row 1 weighs them 1/3, 2/3', () => {
    // q at 0, k at 2, v at 4, out at 6, probs at 8 (2×2).
    const m = Float64Array.of(1, 1, 0, Math.LN2, 3, 6, NaN, NaN, NaN, NaN, NaN, NaN);
    attention_forward(m, 6, 8, -1, 0, 2, 4, 1, 1, 1, 2, 2, 1, 1, 1, 1, 0, 1);
    expect(m[6]).toBe(3);
    expect(m[7]).toBeCloseTo(1 + 4, 14);
    expect(Array.from(m.subarray(8, 10))).toEqual([1, 0]);
    expect(m[10]).toBeCloseTo(1 / 3, 15);
    expect(m[11]).toBeCloseTo(2 / 3, 15);
  });

  it('forward: a cache row (queries = 1) sees every key; a mask scales the weights after the softmax', () => {
    // q at 0, k at 1 (3 keys), v at 4, mask at 7, out at 10: equal scores, weights 1/3 each, masked [2, 0, 1].
    const m = Float64Array.of(1, 0, 0, 0, 3, 6, 9, 2, 0, 1, NaN);
    attention_forward(m, 10, -1, 7, 0, 1, 4, 1, 1, 1, 1, 3, 1, 1, 1, 0.5, 0, 1);
    expect(m[10]).toBeCloseTo((2 * 3 + 9) / 3, 14);
  });

  it('backward: the saved and the recomputed probabilities give the same gradients', () => {
    const s = shape(1, 2, 3, 4, 4, { masked: true });
    const saved = twin64(problem(s), [[0, 2]]);
    const recomputed = twin64(problem({ ...s, saved: false }), [[0, 2]]);
    for (const name of ['out', 'dqkv']) expectClose(recomputed.get(name)!, saved.get(name)!, exact, name);
  });
});

describe('attention_backward in double agrees with central differences of the forward', () => {
  const cases = [shape(2, 2, 3, 4, 4, { masked: true }), shape(1, 2, 5, 3, 5, { masked: true }), shape(2, 1, 4, 1, 6)];
  it.each(cases.map((s) => [describeShape(s), s] as const))('%s', (_name, s) => {
    const p = problem(s);
    const all: [number, number][] = [[0, items(s)]];
    const gradients = twin64(p, all);
    // L = Σ dout·out over the written outputs: its gradient is the backward's with that dout.
    const dout = p.inputs.get('dout')!;
    const loss = (changed: Problem): number => {
      const out = twin64(changed, all).get('out')!;
      let total = 0;
      for (let i = 0; i < out.length; i++) if (!Number.isNaN(out[i])) total += dout[i] * out[i];
      return total;
    };
    const step = 1e-4;
    for (const name of s.fused ? ['qkv'] : ['q', 'k', 'v']) {
      const values = p.inputs.get(name)!;
      const analytic = gradients.get(`d${name}`)!;
      for (let index = 0; index < values.length; index++) {
        // Inputs are float32: perturb them in a float64 copy of the problem.
        const moved = (delta: number): Problem => {
          const inputs = new Map(p.inputs);
          const copy = Float64Array.from(values);
          copy[index] += delta;
          inputs.set(name, copy as unknown as Float32Array);
          return { ...p, inputs };
        };
        const numeric = (loss(moved(step)) - loss(moved(-step))) / (2 * step);
        const what = `${describeShape(s)}: d${name}[${index}]`;
        if (Number.isNaN(analytic[index])) expect(numeric, `${what}: no operand's element, so no gradient`).toBe(0);
        else expect(Math.abs(analytic[index] - numeric), what).toBeLessThan(1e-6 * (1 + Math.abs(numeric)));
      }
    }
  });
});

describe('attention: both wasm builds against the twin and a float64 reference', () => {
  const lengths = [1, 3, 4, 5, 16, 17, 33];
  const widths = [1, 3, 4, 5, 8, 17];
  const pairs = lengths.flatMap((T) => widths.map((headDim): [number, number] => [T, headDim]));
  it.each(pairs)('fused qkv, T=%i, headDim=%i, over heads 1–3 and batches 1–2, masked or not, saved or recomputed', (T, headDim) => {
    for (const heads of [1, 2, 3]) {
      for (const batch of [1, 2]) {
        for (const masked of [false, true]) for (const saved of [true, false]) check(shape(batch, heads, headDim, T, T, { masked, saved }));
      }
    }
  });

  const caches: [number, number][] = [[1, 7], [3, 5], [1, 1], [2, 2], [1, 33], [5, 17], [16, 17]];
  it.each(caches)('strided q, k, v: %i queries over %i keys', (queries, keys) => {
    for (const headDim of [1, 3, 8, 17]) {
      for (const masked of [false, true]) for (const saved of [true, false]) check(shape(2, 3, headDim, queries, keys, { fused: false, masked, saved }));
    }
  });

  it.each([[1, 4], [0, 1], [5, 6], [2, 3]])('items %i…%i of 6 only: the other items\' outputs stay NaN', (first, last) => {
    for (const masked of [false, true]) {
      check(shape(2, 3, 5, 5, 5, { masked }), [[first, last]]);
      check(shape(2, 3, 7, 3, 6, { fused: false, masked, saved: false }), [[first, last]]);
    }
  });
});

describe('attention: the same bits however the items are split, and whether probabilities are saved', () => {
  const shapes = [shape(2, 3, 5, 17, 17, { masked: true }), shape(3, 2, 17, 4, 9, { fused: false }), shape(1, 5, 8, 33, 33)];
  it.each(shapes.map((s) => [describeShape(s), s] as const))('%s', (_name, s) => {
    const p = problem(s);
    const recomputing = problem({ ...s, saved: false });
    const n = items(s);
    const splits: [number, number][][] = [[[0, 2], [2, n]], [[0, 1], [1, 3], [3, n]], Array.from({ length: n }, (_, i): [number, number] => [i, i + 1])];
    for (const build of BUILDS) {
      const run = (problemToRun: Problem, ranges: [number, number][]) =>
        onBackend(pair[build], (kernels, buffers) => runKernels(problemToRun, ranges, kernels, buffers));
      const whole = run(p, [[0, n]]);
      for (const values of whole.values()) expect(values.every(Number.isFinite) || !s.fused).toBe(true);
      for (const ranges of splits) {
        const split = run(p, ranges);
        for (const [name, values] of whole) expectClose(split.get(name)!, values, exact, `${build} ${describeShape(s)} split ${JSON.stringify(ranges)}: ${name}`);
      }
      // Without saved probabilities, the forward's row and the backward's recomputed one are the saved ones.
      const recomputed = run(recomputing, [[0, n]]);
      for (const [name, values] of recomputed) expectClose(values, whole.get(name)!, exact, `${build} ${describeShape(s)} recomputed: ${name}`);
    }
  });
});
